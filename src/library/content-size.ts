import type { Content } from './content.js';

/**
 * Estimated heap bytes of a content in memory, for the library's LRU: the
 * per-frame tables (a number each) and the plan's segment objects dominate;
 * the rest is a fixed allowance. An estimate: 2.09 MB for the 2-hour MP4
 * (172,680 frames), whose content measured 2.0–2.1 MB of heap.
 */
const BASE_BYTES = 8 * 1024;
/** 8 bytes a number, plus the spare capacity of arrays grown by push. */
const NUMBER_BYTES = 10;
/** A plan segment: a small object of 5–7 numbers, plus its slot in the array. */
const SEGMENT_BYTES = 120;
const RENDITION_BYTES = 1024;

export function contentBytes({ probe, plan }: Pick<Content, 'probe' | 'plan'>): number {
  const frames = probe.video.framePts.length + probe.video.keyframePts.length;
  const segments = plan.videoSegments.length + plan.audio.reduce((sum, audio) => sum + audio.segments.length, 0);
  const renditions = plan.renditions.length + plan.audio.length;
  return BASE_BYTES + NUMBER_BYTES * frames + SEGMENT_BYTES * segments + RENDITION_BYTES * renditions;
}
