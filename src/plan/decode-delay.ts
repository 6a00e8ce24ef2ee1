import type { VideoTrackProbe } from '../probe/types.js';
import { OUTPUT_TIMESCALE, rescale } from './plan.js';

/**
 * Frame intervals a frame can be presented before its decode slot with x264's
 * -bf 3 and B-pyramid (decode I0 P4 B2 B1 B3: B1 is two slots late). Exactly
 * x264's own delay for constant-rate sources; more would also be valid MP4,
 * but FFmpeg's timestamp guessing expects the delay the decoder declares.
 */
const REORDER_FRAMES = 2;
/** Never more than this (ticks): decode times run this far ahead of the source's first frame, within the +10 s offset. */
const MAX_DELAY = 5 * OUTPUT_TIMESCALE;

/**
 * The constant decode delay of a rendition (90 kHz ticks): every video sample
 * decodes this long before the slot it would take in presentation order, and
 * the init segment's edit list removes the same amount. One constant for the
 * whole source, not x264's per-span delay, so every span of a rendition lines
 * up with its one init segment and its neighbours. It must cover the widest
 * reordering window anywhere in the source, so it is the longest span of
 * REORDER_FRAMES frame intervals (VFR sources have longer ones).
 */
export function videoDecodeDelay(video: VideoTrackProbe): number {
  const pts = video.framePts;
  let widest = 0;
  for (let i = 0; i + REORDER_FRAMES < pts.length; i++) widest = Math.max(widest, pts[i + REORDER_FRAMES]! - pts[i]!);
  if (widest === 0) widest = Math.max(1, video.endPts - (pts[0] ?? 0));
  return Math.min(MAX_DELAY, rescale(widest, video.timescale, OUTPUT_TIMESCALE));
}
