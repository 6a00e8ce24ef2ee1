import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Plan, VideoRendition, VideoSegment } from '../plan/plan.js';
import { run } from '../process/runner.js';
import { videoEncodeArgs, type VideoEncodeOptions } from './ffmpeg-args.js';
import { SpanError, type EncodedSpan, type SpanLimits } from './span.js';

/**
 * The transcode stage: one span of the plan in, one MPEG-TS file on the
 * output timeline out, ready for the packager.
 */

export { SpanError, type EncodedSpan, type SpanLimits } from './span.js';
export { encodeAudioSpan } from './audio-run.js';

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
