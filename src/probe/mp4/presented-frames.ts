/**
 * From the presented packets to what the probe reports: sorted distinct
 * frame times, keyframes and the end time, in one pass.
 */
import type { PresentedPackets } from './edit-list.js';

/**
 * Everything the probe keeps of the presented packets: the sorted distinct
 * pts, the keyframe pts and the latest pts with its source sample (for the
 * end time), in one pass (presentedFrames).
 */
export function collectFrames(packets: PresentedPackets, key: Uint8Array): PresentedFrames {
  const { count, pts, src, shift } = packets;
  // Doubles from the start: the same array type whatever the values, so the loop's optimised code fits every file.
  const sorted = new Array<number>(count).fill(0.5);
  const keyPts = new Float64Array(count);
  const keySrc = new Int32Array(count);
  const out = new Float64Array(3); // [maxPts, its source sample, keyframes]
  const size = presentedFrames(count, pts, src, shift, key, sorted, keyPts, keySrc, out, insertionBudget(count), -Infinity);
  if (size >= 0) {
    sorted.length = size;
    const keys = out[2]!;
    return { framePts: sorted, keyPts: keyPts.subarray(0, keys), keySrc: keySrc.subarray(0, keys), maxPts: out[0]!, maxPtsSrc: out[1]! };
  }
  // Pathological order: everything again, the plain way.
  const all = new Float64Array(count);
  let keys = 0;
  let maxPts = -Infinity;
  let maxPtsSrc = -1;
  for (let k = 0; k < count; k++) {
    const p = pts[k]! - shift;
    all[k] = p;
    if (key[src[k]!] === 1) {
      keyPts[keys] = p;
      keySrc[keys++] = src[k]!;
    }
    if (p > maxPts) {
      maxPts = p;
      maxPtsSrc = src[k]!;
    }
  }
  return { framePts: sortedUnique(all), keyPts: keyPts.subarray(0, keys), keySrc: keySrc.subarray(0, keys), maxPts, maxPtsSrc };
}

interface PresentedFrames {
  framePts: number[];
  /** Presented sync samples in demux order: their pts and source sample index. */
  keyPts: Float64Array;
  keySrc: Int32Array;
  maxPts: number;
  maxPtsSrc: number;
}

/** Element moves after which insertion gives way to a native sort (O(n) for B-frame reordering, far below O(n²)). */
const insertionBudget = (count: number) => 64 * count + 1024;

/**
 * The pass of collectFrames over the packets in demux order. Presentation
 * times in decode order are sorted except for B-frame reordering within a few
 * frames, so inserting each into `sorted` is O(1) on average. Returns the
 * number of distinct pts in `sorted`, or -1 as soon as the insertions have
 * moved more than `budget` elements (pathological order), which the caller
 * then handles the plain way. Writes the keyframes' pts to keyPts and
 * [maxPts, its source sample, keyframe count] to `out` (maxPts starts at
 * `maxPtsIn`, i.e. -Infinity). Same result as sorting all pts and dropping
 * duplicates.
 */
function presentedFrames(
  count: number,
  pts: Float64Array,
  src: Int32Array,
  shift: number,
  key: Uint8Array,
  sorted: number[],
  keyPts: Float64Array,
  keySrc: Int32Array,
  out: Float64Array,
  budget: number,
  maxPtsIn: number,
): number {
  let size = 0;
  let keys = 0;
  let maxPts = maxPtsIn;
  let moves = 0;
  for (let k = 0; k < count; k++) {
    const p = pts[k]! - shift;
    const s = src[k]!;
    if (key[s] === 1) {
      keySrc[keys] = s;
      keyPts[keys++] = p;
      out[2] = keys;
    }
    if (p > maxPts) {
      maxPts = p;
      out[0] = p;
      out[1] = s;
    }
    if (size === 0 || p > sorted[size - 1]!) {
      sorted[size++] = p;
    } else {
      let j = size - 1;
      while (j >= 0 && sorted[j]! > p) j--;
      if (j < 0 || sorted[j] !== p) {
        // Not a duplicate: insert it after sorted[j].
        moves += size - 1 - j;
        if (moves > budget) return -1;
        for (let q = size; q > j + 1; q--) sorted[q] = sorted[q - 1]!;
        sorted[j + 1] = p;
        size++;
      }
    }
  }
  return size;
}

/** Sort (native, in place: the array is consumed) and drop duplicates. */
export function sortedUnique(values: Float64Array): number[] {
  values.sort();
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (i === 0 || v !== values[i - 1]) out.push(v);
  }
  return out;
}

