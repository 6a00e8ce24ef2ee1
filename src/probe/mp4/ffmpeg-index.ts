/**
 * ffmpeg-compatible sample index: a port of mov_build_index (libavformat/mov.c,
 * FFmpeg 5.1) for a video track, and the keyframe searches mov_fix_index uses.
 */
import { ProbeError } from '../errors.js';
import { PROBE_LIMITS } from '../limits.js';
import type { SampleTables } from './boxes.js';
import { indexedSampleCount, readCttsLikeFfmpeg, readRapGroups, readSttsLikeFfmpeg, readUint32Table } from './sample-tables.js';

/** ffmpeg's per-track packet index before edit-list processing. */
export interface FfmpegIndex {
  n: number;
  /** Index timestamps: decode times minus dts_shift (mov_build_index starts current_dts at -dts_shift). */
  ts: Float64Array;
  key: Uint8Array;
  /** Per-sample composition offsets (ctts expanded 1:1), null when there is no (valid) ctts. */
  ctts: Int32Array | null;
  cttsCount: number;
  /** max(-negative ctts offset), ignoring the last two ctts entries, like mov_read_ctts. */
  dtsShift: number;
  /** stts delta that would apply to the sample after the last one. */
  lastDelta: number;
}

/** mov_build_index for a video track (the uncompressed-audio chunk mode does not apply). */
export function buildFfmpegIndex(tables: SampleTables, view: DataView): FfmpegIndex | undefined {
  const stts = readSttsLikeFfmpeg(tables.stts, view);
  if (!stts || stts.counts.length === 0) return undefined;
  const n = indexedSampleCount(tables, view);
  if (n === 0) return undefined;
  if (n > PROBE_LIMITS.maxFrames) throw new ProbeError('impossible', `the video track has ${n} samples, more than the ${PROBE_LIMITS.maxFrames} a source may have`);

  const { ctts, cttsCount, dtsShift } = readCttsLikeFfmpeg(tables.ctts, view, n);

  // Decode timestamps, starting at -dts_shift.
  const ts = new Float64Array(n);
  const si = fillDecodeTimes(ts, n, stts.counts, stts.counts.length, stts.deltas, -dtsShift);

  // Keyframes: stss (1-based; some broken files are 0-based -> key_off),
  // stps (partial sync samples), 'rap ' sample groups.
  const key = new Uint8Array(n);
  const stssNumbers = readUint32Table(tables.stss, view);
  // An stss with zero entries means "no sync samples" (keyframe_absent), not "all".
  const keyframeAbsent = tables.stss !== undefined && stssNumbers.length === 0;
  const stps = readUint32Table(tables.stps, view);
  const keyOff = (stssNumbers.length > 0 && stssNumbers[0]! > 0) || (stps.length > 0 && stps[0]! > 0) ? 1 : 0;
  const rap = readRapGroups(tables.sbgp, view);
  if (stps.length === 0 && rap.length === 0) {
    markStssKeyframes(key, stssNumbers, keyframeAbsent, keyOff);
    return { n, ts, key, ctts, cttsCount, dtsShift, lastDelta: stts.deltas[si]! };
  }
  let stssIdx = 0;
  let stpsIdx = 0;
  let rapIdx = 0;
  let rapSample = 0;
  for (let i = 0; i < n; i++) {
    let k = false;
    if (!keyframeAbsent && (stssNumbers.length === 0 || i + keyOff === stssNumbers[stssIdx])) {
      k = true;
      if (stssIdx + 1 < stssNumbers.length) stssIdx++;
    } else if (stps.length > 0 && i + keyOff === stps[stpsIdx]) {
      k = true;
      if (stpsIdx + 1 < stps.length) stpsIdx++;
    }
    if (rap.length > 0 && rapIdx < rap.length) {
      if (rap[rapIdx]!.index > 0) k = true;
      if (++rapSample === rap[rapIdx]!.count) {
        rapSample = 0;
        rapIdx++;
      }
    }
    // Without any sync information only the first video sample counts as key.
    if (keyframeAbsent && stps.length === 0 && rap.length === 0 && i === 0) k = true;
    key[i] = k ? 1 : 0;
  }

  return { n, ts, key, ctts, cttsCount, dtsShift, lastDelta: stts.deltas[si]! };
}

/**
 * Decode timestamps (mov_build_index) from `first` on: ffmpeg moves to the
 * next stts entry only when the current one's count is reached, so the last
 * entry — or one with a zero count — applies to all remaining samples.
 * Returns the index of the stts entry the last sample used.
 */
function fillDecodeTimes(ts: Float64Array, n: number, counts: number[], entries: number, deltas: number[], first: number): number {
  let dts = first;
  let sample = 0;
  let si = 0;
  for (;;) {
    const delta = deltas[si]!;
    const count = counts[si]!;
    const last = si + 1 >= entries || count === 0;
    const stop = last ? n : Math.min(n, sample + count);
    const consumed = !last && stop === sample + count;
    for (; sample < stop; sample++) {
      ts[sample] = dts;
      dts += delta;
    }
    if (consumed) si++;
    if (sample >= n) break;
  }
  return si;
}

/**
 * The keyframe loop above when only stss is present (the usual case), in
 * O(stss entries) instead of O(samples), with the same result: the loop
 * compares each sample with the current stss entry and moves on only after a
 * match, so the entries match in order, each only at a sample after the
 * previous match; an entry that is out of order (or past the last sample)
 * never matches and stops all later ones from matching.
 */
function markStssKeyframes(key: Uint8Array, stss: Uint32Array, keyframeAbsent: boolean, keyOff: number): void {
  if (keyframeAbsent) {
    // No sync information at all: only the first video sample counts as key.
    key[0] = 1;
    return;
  }
  if (stss.length === 0) {
    key.fill(1); // no stss box: every sample is a sync sample
    return;
  }
  let next = 0; // first sample the loop has not passed yet
  for (let e = 0; e < stss.length; e++) {
    const sample = stss[e]! - keyOff;
    if (sample < next || sample >= key.length) return;
    key[sample] = 1;
    next = sample + 1;
  }
}

export function sampleDuration(index: FfmpegIndex, i: number): number {
  return i + 1 < index.n ? index.ts[i + 1]! - index.ts[i]! : index.lastDelta;
}

/** find_prev_closest_index (mov.c): keyframe at or before a presentation time. */
export function findPrevClosestIndex(index: FfmpegIndex, timestampPts: number, any: boolean): number {
  const { n, ts, key, ctts, cttsCount, dtsShift } = index;
  let t = timestampPts;
  if (dtsShift > 0) t -= dtsShift;
  let idx = indexSearchTimestampBackward(ts, key, n, t, any);
  if (idx >= 0) {
    for (let i = idx; i > 0 && ts[i] === ts[i - 1]; i--) {
      if (any || key[i - 1]) idx = i - 1;
    }
  }
  if (ctts && idx >= 0) {
    // Walk back to a keyframe whose pts is <= the target (B-frame safe).
    // Note: always requires a keyframe, whatever `any` says (as in ffmpeg).
    while (idx >= 0 && idx < cttsCount) {
      if (ts[idx]! + ctts[idx]! <= t && key[idx]) break;
      idx--;
    }
  }
  return idx;
}

/** ff_index_search_timestamp with AVSEEK_FLAG_BACKWARD (index without discard flags). */
function indexSearchTimestampBackward(ts: Float64Array, key: Uint8Array, n: number, wanted: number, any: boolean): number {
  let a = -1;
  let b = n;
  if (b && ts[b - 1]! < wanted) a = b - 1;
  while (b - a > 1) {
    const m = (a + b) >> 1;
    const v = ts[m]!;
    if (v >= wanted) b = m;
    if (v <= wanted) a = m;
  }
  let m = a;
  if (!any) while (m >= 0 && m < n && !key[m]) m--;
  return m === n ? -1 : m;
}

