import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { AudioRendition, AudioSegment, Plan, VideoRendition, VideoSegment } from '../plan/plan.js';
import { run, type FfmpegProgress } from '../process/runner.js';
import { splitAdtsFrames } from './adts.js';
import { AAC_ENCODER_PRIMING_FRAMES, audioEncodeArgs, audioRemuxArgs, videoEncodeArgs, type VideoEncodeOptions } from './ffmpeg-args.js';

/**
 * The transcode stage: one span of the plan in, one MPEG-TS file on the
 * output timeline out, ready for the packager.
 */

export class SpanError extends Error {
  override name = 'SpanError';
  constructor(
    message: string,
    readonly log = '',
  ) {
    super(message);
  }
}

/** How a span's tools run: how long they may go without progress, and who hears of it. */
export interface SpanLimits {
  stallTimeoutMs?: number;
  onProgress?: (progress: FfmpegProgress) => void;
}

export interface EncodedSpan {
  tsPath: string;
  log: string;
}

export async function encodeVideoSpan(
  sourcePath: string,
  plan: Plan,
  rendition: VideoRendition,
  segment: VideoSegment,
  workDir: string,
  options: VideoEncodeOptions = {},
  limits: SpanLimits = {},
): Promise<EncodedSpan> {
  const tsPath = path.join(workDir, 'video.ts');
  const { log } = await run('ffmpeg', videoEncodeArgs(sourcePath, plan, rendition, segment, tsPath, options), limits);
  // ffmpeg exits 0 on a source that is damaged in this span; say so rather than let the packager fail on an empty file.
  const written = (await stat(tsPath).catch(() => undefined))?.size ?? 0;
  if (written === 0) {
    throw new SpanError(`the source has no decodable video in this span (${log.trim().split('\n').pop() || 'no ffmpeg output'})`, log);
  }
  return { tsPath, log };
}

/**
 * Audio joins without a gap or a click: each span is encoded with real audio
 * before and after it, then the encoder's priming frame and the pre/post-roll
 * frames are dropped, so every kept frame sits on one global AAC frame grid.
 */
export async function encodeAudioSpan(
  sourcePath: string,
  plan: Plan,
  audio: AudioRendition,
  segment: AudioSegment,
  workDir: string,
  limits: SpanLimits = {},
): Promise<EncodedSpan> {
  const { prerollFrames, args } = audioEncodeArgs(sourcePath, plan, audio, segment);
  const encoded = await run('ffmpeg', args, limits);
  const frames = splitAdtsFrames(encoded.stdout);
  const first = AAC_ENCODER_PRIMING_FRAMES + prerollFrames;
  const kept = frames.slice(first, first + segment.frameCount);
  if (kept.length !== segment.frameCount) {
    throw new SpanError(`audio span produced ${kept.length} of ${segment.frameCount} AAC frames`);
  }
  const tsPath = path.join(workDir, 'audio.ts');
  const remux = await run('ffmpeg', audioRemuxArgs(audio, segment, tsPath), { ...limits, input: Buffer.concat(kept) });
  return { tsPath, log: encoded.log + remux.log };
}
