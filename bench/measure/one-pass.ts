/**
 * The baseline the full-file JIT cost is compared with: ONE ffmpeg process
 * that makes, over the whole file, what the origin makes span by span —
 * every chosen rendition with the origin's filters and x264 options (its
 * command line without the seek and the trim; several renditions from one
 * decode through a split filter), an IDR forced at each of the plan's cuts
 * (x264's keyint and scenecut left at the defaults the origin's encodes run
 * with), and the audio rendition with the origin's AAC encoder, bitrate,
 * channels and 48 kHz resampling. Each stream goes to its own MPEG-TS; one
 * Shaka Packager run over them may follow (measured apart).
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { AUDIO_SAMPLE_RATE, TIMELINE_OFFSET_SECONDS, type AudioRendition, type Plan, type VideoRendition } from '../../src/plan/plan.js';
import { packagerPath } from '../../src/process/runner.js';
import { videoEncodeArgs } from '../../src/transcode/ffmpeg-args.js';
import { procCpu } from '../lib.js';

export interface OnePassCommand {
  args: string[];
  /** The MPEG-TS files it writes, with what each holds (for the packager). */
  outputs: { file: string; kind: 'video' | 'audio'; name: string }[];
}

export interface CpuRun {
  /** CPU seconds (user + sys). */
  cpuSeconds: number;
  wallMs: number;
}

/** Cut times (source timeline, seconds, as the encoder sees them under -copyts), a quarter frame early so rounding can never move one past its frame. */
function cutTimes(plan: Plan): string[] {
  const quarterFrame = 0.25 / Math.max(plan.frameRate, 1);
  return plan.videoSegments.slice(1).map((s) => (s.startPts / plan.sourceTimescale - quarterFrame).toFixed(6));
}

/** The origin's arguments for `rendition`, split into input, filter chain (trim removed) and output parts. */
function originParts(sourcePath: string, plan: Plan, rendition: VideoRendition) {
  const args = videoEncodeArgs(sourcePath, plan, rendition, plan.videoSegments[0]!, '<output>');
  if (args.includes('-ss')) throw new Error(`segment 1's command seeks: ${args.join(' ')}`);
  const map = args.indexOf('-map');
  const vf = args.indexOf('-vf');
  const out = args.indexOf('-y');
  const filters = args[vf + 1]!.split(',').filter((f) => !f.startsWith('trim='));
  // After -vf <chain>: -fps_mode … encoder … -output_ts_offset … -f mpegts; without '-y <output>'.
  return { input: args.slice(0, map), filters: filters.join(','), output: args.slice(vf + 2, out) };
}

/**
 * One ffmpeg command over the whole file for `renditions` (none, one or the
 * ladder) and `audio` (or none), writing into `workDir`.
 */
export function onePassCommand(sourcePath: string, plan: Plan, renditions: readonly VideoRendition[], audio: AudioRendition | undefined, workDir: string): OnePassCommand {
  if (renditions.length === 0 && !audio) throw new Error('a one-pass command needs a rendition or the audio');
  const parts = renditions.map((r) => originParts(sourcePath, plan, r));
  // The origin's input options (decoder threads, the file-only protocol); an audio-only pass reads the file the same way.
  const input = originParts(sourcePath, plan, renditions[0] ?? plan.renditions[0]!).input;
  const outputs: OnePassCommand['outputs'] = [];
  const args = [...input];
  const keyframes = cutTimes(plan);
  if (parts.length > 0) {
    const labels = parts.map((_, k) => `[v${k}]`);
    const graph =
      parts.length === 1
        ? `[0:v:${plan.videoTrackIndex}]${parts[0]!.filters}${labels[0]}`
        : [`[0:v:${plan.videoTrackIndex}]split=${parts.length}${parts.map((_, k) => `[s${k}]`).join('')}`, ...parts.map((p, k) => `[s${k}]${p.filters}${labels[k]}`)].join(';');
    args.push('-filter_complex', graph);
    for (const [k, p] of parts.entries()) {
      const file = path.join(workDir, `${renditions[k]!.name}.ts`);
      outputs.push({ file, kind: 'video', name: renditions[k]!.name });
      args.push('-map', labels[k]!, '-an', '-sn', '-dn', '-map_metadata', '-1', '-map_chapters', '-1', ...p.output, '-force_key_frames', keyframes.join(',') || '0', '-forced-idr', '1', '-y', file);
    }
  }
  if (audio) {
    const file = path.join(workDir, 'audio.ts');
    outputs.push({ file, kind: 'audio', name: 'audio' });
    args.push(
      '-map', `0:a:${audio.trackIndex}`, '-vn', '-sn', '-dn', '-map_metadata', '-1', '-map_chapters', '-1',
      '-af', `aresample=${AUDIO_SAMPLE_RATE}`, '-ac', String(audio.channels), '-c:a', 'aac', '-b:a', `${audio.bitrateKbps}k`,
      '-output_ts_offset', String(TIMELINE_OFFSET_SECONDS), '-muxdelay', '0', '-muxpreload', '0', '-f', 'mpegts', '-y', file,
    );
  }
  return { args, outputs };
}

/** One Shaka Packager run over every output of a one-pass command: an init and numbered segments per stream. */
export function onePassPackagerArgs(command: OnePassCommand, workDir: string, segmentSeconds: number): string[] {
  return [
    ...command.outputs.map((o) => `in=${o.file},stream=${o.kind},init_segment=${path.join(workDir, `${o.name}-init.mp4`)},segment_template=${path.join(workDir, `${o.name}-$Number$.m4s`)}`),
    '--segment_duration', String(segmentSeconds),
    '--quiet',
  ];
}

/**
 * Runs a tool as this process's only child and returns its CPU: the change in
 * this process's cutime + cstime, which counts a child once it is reaped.
 */
export async function childCpu(tool: 'ffmpeg' | 'packager', args: readonly string[]): Promise<CpuRun> {
  const cpu0 = await procCpu('self');
  const t0 = performance.now();
  await execa(tool === 'packager' ? packagerPath() : 'ffmpeg', args, { stdin: 'ignore' });
  const wallMs = performance.now() - t0;
  const cpu1 = await procCpu('self');
  return { cpuSeconds: cpu1.children - cpu0.children, wallMs };
}

/**
 * Throws unless a video TS of the one pass has a key frame at each of the
 * plan's cuts (ffprobe, not timed): the baseline must make the GOPs the
 * origin makes, or it would be cheaper for the wrong reason.
 */
export async function checkKeyframesAtCuts(file: string, plan: Plan): Promise<void> {
  const { stdout } = await execa('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-skip_frame', 'nokey', '-show_entries', 'frame=best_effort_timestamp_time', '-of', 'csv=p=0', file]);
  const keys = stdout.split('\n').filter(Boolean).map(Number);
  const halfFrame = 0.5 / Math.max(plan.frameRate, 1);
  // Segment 1 starts the stream: x264's first frame is an IDR whatever it is told.
  const missing = plan.videoSegments.slice(1).filter((s) => !keys.some((t) => Math.abs(t - (s.startPts / plan.sourceTimescale + TIMELINE_OFFSET_SECONDS)) < halfFrame));
  if (missing.length > 0) {
    throw new Error(`the one pass has no key frame at the cut of segment(s) ${missing.map((s) => s.index + 1).join(', ')} in ${file} (key frames at ${keys.join(', ')})`);
  }
}
