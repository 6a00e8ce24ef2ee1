import path from 'node:path';
import type { Plan, VideoRendition, VideoSegment } from '../plan/plan.js';
import { runStreaming, StoppedError, type RunOptions } from '../process/runner.js';
import { TS_OUTPUT, videoEncodeArgsOver, type VideoEncodeOptions } from './ffmpeg-args.js';
export type { VideoEncodeOptions } from './ffmpeg-args.js';
import { SpanError, type SpanLimits } from './transcode.js';

/**
 * A run: ONE encoder process makes consecutive planned segments of a video
 * rendition (a head following linear play), instead of one process per
 * segment. The source is cut once, on the first segment's start and the
 * last one's end, as a span is; the encoder is made to put an IDR on every
 * planned cut (frame numbers: every source frame reaches it exactly once),
 * and ffmpeg's segment muxer splits its one output at those IDRs, so each
 * segment is its own MPEG-TS file with the timestamps a span encode of it
 * has (-copyts, the same offset). One output, because ffmpeg 5.1 flushes a
 * process's several outputs only when it exits (FACTS.md): the segment
 * muxer closes each file when the next begins and lists it on stdout, so a
 * segment is handed on as soon as it is complete, not when the run is.
 *
 * The bytes are not a span encode's (x264's rate control and lookahead run
 * across the cuts): a run-made segment is interchangeable with a span-made
 * one (same timestamps, sample counts and SPS/PPS), not identical.
 */

/** Only libx264's H.264 renditions run: its IDR placement at forced frames is the one checked here. */
export function canRun(rendition: VideoRendition, options: VideoEncodeOptions): boolean {
  return !rendition.hevc && (options.encoder ?? 'libx264') === 'libx264';
}

/** Frame numbers (from the run's first frame) where segments 2.. of the run start. */
export function runCutFrames(segments: readonly VideoSegment[]): number[] {
  const cuts: number[] = [];
  let frames = 0;
  for (const segment of segments.slice(0, -1)) {
    frames += segment.frameCount;
    cuts.push(frames);
  }
  return cuts;
}

/** The command line of a run over `segments` (consecutive), each written to `<workDir>/run-NNN.ts` and listed on stdout. */
export function videoRunArgs(sourcePath: string, plan: Plan, rendition: VideoRendition, segments: readonly VideoSegment[], workDir: string, options: VideoEncodeOptions = {}): string[] {
  const cuts = runCutFrames(segments);
  // An IDR exactly on every cut: x264 makes a forced keyframe an IDR in a closed GOP (open-gop=0, encoder-args.ts).
  const forced = ['expr:eq(n,0)', ...cuts.map((n) => `eq(n,${n})`)].join('+');
  const output = [
    '-force_key_frames', forced,
    // The TS muxer's settings of a span (no mux delay), for each segment's own muxer.
    ...TS_OUTPUT.slice(0, 4),
    '-f', 'segment', '-segment_format', 'mpegts', '-reset_timestamps', '0',
    ...(cuts.length > 0 ? ['-segment_frames', cuts.join(',')] : []),
    '-segment_list', 'pipe:1', '-segment_list_type', 'csv',
    '-y', path.join(workDir, 'run-%03d.ts'),
  ];
  return videoEncodeArgsOver(sourcePath, plan, rendition, { first: segments[0]!, last: segments.at(-1)! }, output, options);
}

export interface RunLimits extends SpanLimits {
  /** Stops the encoder: the run then ends after the segments already handed on. */
  signal?: AbortSignal;
}

/**
 * Encodes a run, handing each finished segment's TS file to `onSegment` in order (awaited one at a time, while the
 * encoder goes on). Resolves with how many were handed on: all of them, or fewer when `limits.signal` stopped it.
 * A segment list that does not match the plan (a file more or missing) is a SpanError.
 */
export async function encodeVideoRun(
  sourcePath: string,
  plan: Plan,
  rendition: VideoRendition,
  segments: readonly VideoSegment[],
  workDir: string,
  options: VideoEncodeOptions,
  limits: RunLimits,
  onSegment: (position: number, tsPath: string) => Promise<void>,
): Promise<{ handed: number; log: string }> {
  let handed = 0;
  let pending = '';
  let chain = Promise.resolve();
  let failed: unknown;
  const listed = (line: string) => {
    const name = line.split(',')[0]!;
    const position = handed++;
    if (position >= segments.length || name !== `run-${String(position).padStart(3, '0')}.ts`) {
      failed ??= new SpanError(`the run listed ${name} as its segment ${position + 1} of ${segments.length}`);
      return;
    }
    // Stopped: what is left is not handed on, finished or not.
    chain = chain.then(() => (failed || limits.signal?.aborted ? undefined : onSegment(position, path.join(workDir, name)))).catch((err: unknown) => {
      failed ??= err;
    });
  };
  const onStdout = (chunk: Uint8Array) => {
    pending += Buffer.from(chunk).toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim()) listed(line.trim());
  };
  const run: RunOptions = {
    ...(limits.stallTimeoutMs !== undefined ? { stallTimeoutMs: limits.stallTimeoutMs } : {}),
    ...(limits.onProgress ? { onProgress: limits.onProgress } : {}),
    ...(limits.signal ? { signal: limits.signal } : {}),
    // A span's two minutes for each segment: the stall watchdog is what catches a hang.
    timeoutMs: 120_000 * segments.length,
  };
  let log = '';
  let stopped = false;
  try {
    log = (await runStreaming('ffmpeg', videoRunArgs(sourcePath, plan, rendition, segments, workDir, options), onStdout, run)).log;
  } catch (err) {
    if (!(err instanceof StoppedError)) throw err;
    stopped = true;
  }
  if (pending.trim()) listed(pending.trim());
  await chain;
  if (failed) throw failed;
  if (!stopped && handed !== segments.length) throw new SpanError(`the run made ${handed} of ${segments.length} segments`, log);
  return { handed: Math.min(handed, segments.length), log };
}
