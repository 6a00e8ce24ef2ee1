/**
 * Edit lists as ffmpeg applies them: a port of mov_fix_index (libavformat/mov.c,
 * FFmpeg 5.1, video branch), which decides which packets are presented and at
 * which pts.
 */
import { ProbeError } from '../errors.js';
import { PROBE_LIMITS } from '../limits.js';
import { fullBoxPayload, type BoxRange } from './boxes.js';
import { findPrevClosestIndex, type FfmpegIndex } from './ffmpeg-index.js';

interface Edit {
  /** Media time in track timescale, -1 for an empty edit. */
  mediaTime: number;
  /** Segment duration converted to track timescale (av_rescale, round to nearest). */
  duration: number;
}

/** The edits of an elst box (mov_read_elst): as many as its bytes hold, whatever its count claims. */
export function readEdits(elst: BoxRange | undefined, view: DataView, trackTimescale: number, movieTimescale: number): Edit[] | undefined {
  const payload = elst && fullBoxPayload(view, elst);
  if (!elst || !payload || payload.start + 4 > payload.end) return undefined;
  const wide = view.getUint8(payload.start - 4) === 1;
  const entryBytes = wide ? 20 : 12;
  const count = Math.min(view.getUint32(payload.start), Math.floor((payload.end - payload.start - 4) / entryBytes));
  if (count === 0) return undefined;
  const edits: Edit[] = [];
  for (let i = 0, p = payload.start + 4; i < count; i++, p += entryBytes) {
    const segmentDuration = wide ? Number(view.getBigUint64(p)) : view.getUint32(p);
    const mediaTime = wide ? Number(view.getBigInt64(p + 8)) : view.getInt32(p + 4);
    edits.push({ mediaTime, duration: rescaleRound(segmentDuration, trackTimescale, movieTimescale) });
  }
  return edits;
}

/** av_rescale(a, b, c) with AV_ROUND_NEAR_INF, exact for 64-bit inputs. */
function rescaleRound(a: number, b: number, c: number): number {
  const A = BigInt(Math.trunc(a));
  const B = BigInt(b);
  const C = BigInt(c);
  const neg = A < 0n;
  const abs = (neg ? -A : A) * B;
  const r = (abs + C / 2n) / C;
  return Number(neg ? -r : r);
}

/** The packets ffmpeg presents (not flagged discard), in demux order. */
export interface PresentedPackets {
  count: number;
  /** pts as ffprobe reports it, before `shift`: index timestamp + dts_shift + ctts (or just the timestamp without ctts). */
  pts: Float64Array;
  /** Source sample of each packet (a sample may be presented by several edits). */
  src: Int32Array;
  /** To subtract from every pts (the video track's final shift, see applyEditListLikeFfmpeg); 0 for none. */
  shift: number;
}

/*
 * A note on speed. The loops over every frame (172,680 for two hours) are the
 * probe's cost. On a first request they run before V8 has optimised them: the
 * interpreter runs a loop until its optimised (OSR) version is compiled, on a
 * background thread, and that compile takes longer the larger the function
 * around the loop is. So each per-frame loop sits in a small function of its
 * own (fillDecodeTimes, expandCtts, presentAllPackets, presentEditPackets,
 * presentedFrames), and the loops are as few as the algorithm allows.
 *
 * A running server probes each new file with the optimised code of the last
 * one only if that code never bails out. V8 records type feedback from a
 * function's first iterations on; whatever runs only before the loop of a
 * first call (no feedback yet) or only after it (not yet run when the loop
 * was compiled) has none, and optimised code bails out there. So these
 * functions do nothing but their loop: they take numbers, typed arrays and
 * arrays their caller allocated (no property reads, no arithmetic up front),
 * write their outputs from inside the loop and return a plain variable.
 */

/** For "no ctts": keeps the packet loops' argument types the same either way. */
const NO_CTTS = new Int32Array(0);

/** No edit list: ffmpeg keeps its index as built, every packet is presented. */
export function presentAll(index: FfmpegIndex): PresentedPackets {
  const n = index.n;
  const pts = new Float64Array(n);
  const src = new Int32Array(n);
  presentAllPackets(n, index.ts, index.ctts ?? NO_CTTS, index.ctts ? index.cttsCount : 0, index.dtsShift, pts, src);
  return { count: n, pts, src, shift: 0 };
}

function presentAllPackets(n: number, ts: Float64Array, ctts: Int32Array, withCtts: number, dtsShift: number, pts: Float64Array, src: Int32Array): void {
  for (let i = 0; i < n; i++) {
    pts[i] = i < withCtts ? ts[i]! + dtsShift + ctts[i]! : ts[i]!;
    src[i] = i;
  }
}

/**
 * Rebuild the packet index the way ffmpeg's mov demuxer does for a video track:
 * for each edit, start from the keyframe at/before media_time, keep packets
 * whose cts falls inside [media_time, media_time + duration) and mark the others
 * as discarded (they are still decoded as references but never output), lay
 * the kept packets out back-to-back starting at the edit's position on the
 * timeline, and finally shift the track so the earliest presented pts equals
 * the total of the leading empty edits.
 *
 * Only the presented packets are returned. (ffmpeg also rewrites the
 * timestamps of the discarded packets before an edit's first kept one —
 * fix_index_entry_timestamps — which cannot change any presented pts.)
 */
export function applyEditListLikeFfmpeg(index: FfmpegIndex, edits: Edit[]): PresentedPackets {
  const { n, ts, key, dtsShift } = index;
  const ctts = index.ctts ?? NO_CTTS;
  const withCtts = index.ctts ? index.cttsCount : 0;
  // The packets kept so far, across edits, and min_corrected_pts (in a typed array: presentEditPackets updates it).
  let pts = new Float64Array(n);
  let src = new Int32Array(n);
  let count = 0;
  const minCorrectedPts = new Float64Array(1);
  minCorrectedPts[0] = -1;
  let entryEnd = dtsShift > 0 ? -dtsShift : 0; // edit_list_dts_entry_end
  let emptyEditsSum = 0;
  let foundNonEmpty = false;

  for (const edit of edits) {
    const counter = entryEnd; // edit_list_dts_counter
    entryEnd += edit.duration;
    if (!foundNonEmpty && edit.mediaTime === -1) {
      emptyEditsSum += edit.duration;
      continue;
    }
    foundNonEmpty = true;

    let start = findPrevClosestIndex(index, edit.mediaTime, false);
    if (start < 0) start = findPrevClosestIndex(index, edit.mediaTime, true);
    if (start < 0) start = 0;
    const editEnd = edit.duration + edit.mediaTime;
    for (;;) {
      const before: number = minCorrectedPts[0]!;
      const next = presentEditPackets(n, ts, key, index.ctts !== null, ctts, withCtts, dtsShift, edit.mediaTime, edit.duration, editEnd, start, counter, pts, src, count, pts.length, before, minCorrectedPts);
      if (next >= 0) {
        count = next;
        break;
      }
      // Out of room (only with several edits re-using samples): grow, and run this edit again.
      if (pts.length >= PROBE_LIMITS.maxFrames) {
        throw new ProbeError('impossible', `the edit list presents more than ${PROBE_LIMITS.maxFrames} frames`);
      }
      minCorrectedPts[0] = before;
      const grownPts = new Float64Array(Math.min(PROBE_LIMITS.maxFrames, pts.length * 2 + 16));
      grownPts.set(pts);
      pts = grownPts;
      const grownSrc = new Int32Array(grownPts.length);
      grownSrc.set(src);
      src = grownSrc;
    }
  }

  // Video only: shift so the first presented pts lands on the empty-edit offset
  // (applied by presentedFrames, which reads every pts once anyway).
  const shift = minCorrectedPts[0]! - emptyEditsSum;
  return { count, pts, src, shift: shift > 0 ? shift : 0 };
}

/**
 * The packet loop of mov_fix_index for one edit (ending at editEnd = duration
 * + mediaTime), from sample `start`: appends the packets it keeps to pts/src
 * from index `count` on and returns the new count, or -1 when more than
 * `capacity` (nothing is committed then). min_corrected_pts goes in as
 * `minCorrectedIn` and comes out in minCorrectedPts[0].
 */
function presentEditPackets(
  n: number,
  oldTs: Float64Array,
  key: Uint8Array,
  hasCtts: boolean,
  ctts: Int32Array,
  withCtts: number,
  dtsShift: number,
  mediaTime: number,
  duration: number,
  editEnd: number,
  start: number,
  counterStart: number,
  pts: Float64Array,
  src: Int32Array,
  count: number,
  capacity: number,
  minCorrectedIn: number,
  minCorrectedPts: Float64Array,
): number {
  let minCorrected = minCorrectedIn;
  let counter = counterStart;
  let started = false; // edit_list_start_encountered
  let foundKeyAfterEdit = false;
  for (let i = start; i < n; i++) {
    const frameDuration = i + 1 < n ? oldTs[i + 1]! - oldTs[i]! : duration;
    const isKey = key[i] === 1; // read on every packet (see "A note on speed")
    let currCts = oldTs[i]! + dtsShift;
    let currCtts = 0;
    if (i < withCtts) {
      currCtts = ctts[i]!;
      currCts += currCtts;
    }
    if (currCts >= mediaTime && currCts < editEnd) {
      const corrected = counter + currCtts + dtsShift;
      if (minCorrected < 0 || corrected < minCorrected) {
        minCorrected = corrected;
        minCorrectedPts[0] = corrected;
      }
      started = true;
      if (count === capacity) return -1;
      // mov_read_packet: pts = dts + dts_shift + ctts, or pts = dts without ctts.
      pts[count] = i < withCtts ? corrected : counter;
      src[count] = i;
      count++;
    }
    // else: AVINDEX_DISCARD_FRAME, decoded (as a reference) but never output.
    // Only start advancing the timeline once the edit's first packet is kept.
    if (started) counter += frameDuration;

    // Stop at the first keyframe past the end of the edit; with ctts wait for
    // the second one, trailing B-frames of the first may still belong to it.
    if (currCts + frameDuration >= editEnd && isKey) {
      if (hasCtts && !foundKeyAfterEdit) {
        foundKeyAfterEdit = true;
        continue;
      }
      break;
    }
  }
  return count;
}

