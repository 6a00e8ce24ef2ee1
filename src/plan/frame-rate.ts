import type { VideoTrackProbe } from '../probe/types.js';

/**
 * The frame rate a manifest declares, from the frame timestamps the probe
 * read (the same for every container and either prober, and exact where the
 * container is: an MP4's stts, an AVI's 1/25 clock).
 *
 * Constant-rate video (every frame on one grid, whole frames possibly
 * missing) declares the grid's rate as an exact rational: 24000/1001, not
 * the 23.926 an average gives when an edit list trims half a frame, nor the
 * 24.917 of an AVI with one dropped frame. A container whose clock cannot
 * hold the rate exactly (Matroska's milliseconds: 41, 42, 42, 41 … ms) gives
 * the rate within a known error, and the rational chosen is the NTSC rate or
 * the one with the smallest denominator inside that error.
 *
 * Variable-rate video has no one rate: HLS FRAME-RATE is "the maximum frame
 * rate for all the video in the Variant Stream" (RFC 8216 §4.3.4.2), taken
 * here as the highest rate over any run of frames lasting about a second (one
 * short interval is a timestamp's jitter, not a frame rate); DASH @frameRate
 * is, for a varying rate, "the average frame rate over the entire duration
 * of the Representation" (ISO/IEC 23009-1 §5.3.7.2), frames over duration.
 */

export interface Rational {
  num: number;
  den: number;
}

export interface FrameRates {
  /** Every frame lies on one grid of `nominal` (whole frames may be missing). */
  constant: boolean;
  /** The grid's rate when constant, else the highest rate over any second of frames: HLS FRAME-RATE. */
  nominal: Rational;
  /** Frames over the presented duration. */
  average: Rational;
}

/** Rates no container clock but a 1001-based one holds exactly. */
const NTSC_RATES: readonly Rational[] = [12_000, 15_000, 24_000, 30_000, 48_000, 60_000, 120_000, 240_000].map((num) => ({ num, den: 1001 }));
/** Largest denominator tried for a rate read through a coarse clock. */
const MAX_DENOMINATOR = 1001;
/** Below this many ticks per frame, a clock cannot carry a frame's timing jitter: intervals must be exact. */
const MIN_JITTERED_TICKS = 4;

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const rest = a % b;
    a = b;
    b = rest;
  }
  return a;
}

export function reduce(num: number, den: number): Rational {
  const divisor = gcd(Math.round(num), Math.round(den)) || 1;
  return { num: Math.round(num) / divisor, den: Math.round(den) / divisor };
}

export const rationalValue = (rate: Rational): number => rate.num / rate.den;

/**
 * The rational rate read through a clock: exact when `errorTicks` is 0, else
 * the common rate (whole, half or NTSC) within the error nearest the reading,
 * else the simplest rational within it. `frames` frames take `ticks` ticks of
 * a `timescale` clock, read to within `errorTicks`.
 */
function readRate(frames: number, ticks: number, timescale: number, errorTicks: number): Rational {
  if (errorTicks === 0 || ticks <= errorTicks) return reduce(frames * timescale, ticks);
  const estimate = (frames * timescale) / ticks;
  const low = (frames * timescale) / (ticks + errorTicks);
  const high = (frames * timescale) / (ticks - errorTicks);
  const inside = (rate: Rational) => rationalValue(rate) >= low && rationalValue(rate) <= high;
  // Of the whole and half rates, the one nearest the reading is the only one that can win.
  const nearestHalf = reduce(Math.max(1, Math.round(2 * estimate)), 2);
  const common = [...NTSC_RATES, nearestHalf].filter(inside);
  if (common.length > 0) {
    return common.reduce((best, rate) => (Math.abs(rationalValue(rate) - estimate) < Math.abs(rationalValue(best) - estimate) ? rate : best));
  }
  for (let den = 3; den <= MAX_DENOMINATOR; den++) {
    const num = Math.ceil(low * den);
    if (num / den <= high) return reduce(num, den);
  }
  return reduce(frames * timescale, ticks);
}

/** Distinct values counted in a short list before a Map takes over (a constant-rate stream has one to three). */
const FEW_VALUES = 8;

/**
 * The lower median; intervals take few distinct values, so it is counted
 * rather than sorted (two hours: 172,000 intervals), in a short list while
 * there are few (no Map lookup per frame).
 */
function median(values: Float64Array): number {
  const few = new Float64Array(FEW_VALUES);
  const fewCounts = new Float64Array(FEW_VALUES);
  let distinct = 0;
  let counts: Map<number, number> | undefined;
  for (let i = 0; i < values.length; i++) {
    const value = values[i]!;
    let k = 0;
    while (k < distinct && few[k] !== value) k++;
    if (k < distinct) fewCounts[k]!++;
    else if (distinct < FEW_VALUES) {
      few[distinct] = value;
      fewCounts[distinct++] = 1;
    } else {
      counts ??= new Map<number, number>();
      counts.set(value, (counts.get(value) ?? 0) + 1);
    }
  }
  counts ??= new Map<number, number>();
  for (let k = 0; k < distinct; k++) counts.set(few[k]!, fewCounts[k]!);
  const rank = (values.length - 1) >> 1;
  let seen = 0;
  for (const value of [...counts.keys()].sort((a, b) => a - b)) {
    seen += counts.get(value)!;
    if (seen > rank) return value;
  }
  return values[0] ?? 0;
}

/**
 * The clock the timestamps were really written with: the largest tick that
 * divides every interval. Timestamps rounded to milliseconds and then
 * rescaled (a Matroska file remuxed to MP4 at 16000 ticks a second) step by
 * 16 ticks, and jitter by 16, not by one.
 */
function clockQuantum(intervals: Float64Array): number {
  let quantum = 0;
  for (let i = 0; i < intervals.length; i++) {
    // Most intervals are a multiple of the quantum so far: no gcd to run.
    if (quantum !== 0 && intervals[i]! % quantum === 0) continue;
    quantum = gcd(intervals[i]!, quantum);
    if (quantum === 1) break;
  }
  return quantum || 1;
}

/**
 * The grid a constant-rate stream is on, or undefined for variable-rate
 * video. The typical interval is the median; intervals within a clock tick
 * of it are single frames (a tick either way is the clock's rounding), and
 * their runs give the interval within a tick per run; every other interval
 * must be a whole number of frames, within the same rounding.
 */
function constantGrid(intervals: Float64Array, typical: number, timescale: number, quantum: number): Rational | undefined {
  const jitter = typical >= MIN_JITTERED_TICKS * quantum ? quantum : 0;
  let frames = 0;
  let ticks = 0;
  let runs = 0;
  let inRun = false;
  let exact = true;
  for (let i = 0; i < intervals.length; i++) {
    const interval = intervals[i]!;
    const single = Math.abs(interval - typical) <= jitter;
    if (single) {
      frames++;
      ticks += interval;
      if (interval !== typical) exact = false;
      if (!inRun) runs++;
    }
    inRun = single;
  }
  const mean = ticks / frames;
  const tolerance = exact ? 0 : quantum;
  for (let i = 0; i < intervals.length; i++) {
    const interval = intervals[i]!;
    const count = Math.round(interval / mean);
    if (count < 1 || Math.abs(interval - count * mean) > tolerance + 1e-9 * interval) return undefined;
  }
  return readRate(frames, ticks, timescale, exact ? 0 : runs * quantum);
}

/** The highest rate over any run of frames lasting about a second at the typical rate. */
function highestRate(pts: readonly number[], typical: number, timescale: number, quantum: number): Rational {
  const window = Math.max(1, Math.min(pts.length - 1, Math.round(timescale / typical)));
  let shortest = Infinity;
  for (let i = 0; i + window < pts.length; i++) shortest = Math.min(shortest, pts[i + window]! - pts[i]!);
  return readRate(window, shortest, timescale, typical >= MIN_JITTERED_TICKS * quantum ? quantum : 0);
}

export function frameRates(video: VideoTrackProbe): FrameRates {
  const pts = video.framePts;
  const first = pts[0] ?? 0;
  const average = reduce(pts.length * video.timescale, Math.max(1, video.endPts - first));
  if (pts.length < 2) return { constant: true, nominal: average, average };
  const intervals = new Float64Array(pts.length - 1);
  for (let i = 1; i < pts.length; i++) intervals[i - 1] = pts[i]! - pts[i - 1]!;
  const quantum = clockQuantum(intervals);
  const typical = median(intervals);
  const grid = constantGrid(intervals, typical, video.timescale, quantum);
  if (grid) return { constant: true, nominal: grid, average };
  return { constant: false, nominal: highestRate(pts, typical, video.timescale, quantum), average };
}

/** HLS FRAME-RATE: decimal, three places (RFC 8216 §4.3.4.2). */
export function hlsFrameRate(rates: FrameRates): string {
  return rationalValue(rates.nominal).toFixed(3);
}

/** DASH @frameRate (FrameRateType "F" or "F/D"): the grid's rate when constant, else the average. */
export function dashFrameRate(rates: FrameRates): string {
  const rate = rates.constant ? rates.nominal : rates.average;
  return rate.den === 1 ? String(rate.num) : `${rate.num}/${rate.den}`;
}
