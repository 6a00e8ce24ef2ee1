import type { ProbeResult } from './types.js';

/**
 * probe.json: the probe result as stored in the cache, so a restart plans
 * without probing again.
 *
 * The frame and keyframe times are most of a probe (172,680 numbers for two
 * hours at 23.976 fps: 1.6 MB of JSON, tens of milliseconds to write and to
 * parse). They are stored as runs of evenly spaced values, `[first, step,
 * count, …]`, which is exact for any list (an irregular list just has short
 * runs) and a few numbers for constant-frame-rate video. Everything else is
 * stored as it is.
 */

/** Changes whenever what the probe reports changes (3: only closed-GOP keyframes; 4: decoded size from the SPS, the last edit list, the limits; 5: audio starts at its first decoded sample, coarse audio clocks flagged; 6: colour and HDR metadata; 7: subtitle streams), so older probes are redone. */
export const PROBE_FORMAT = 'jitseg-probe-7';

interface StoredProbe {
  format: typeof PROBE_FORMAT;
  probe: Omit<ProbeResult, 'video'> & { video: Omit<ProbeResult['video'], 'framePts' | 'keyframePts'> & { framePts: number[]; keyframePts: number[] } };
}

/**
 * Runs of an arithmetic progression, flattened: [first, step, count, first,
 * step, count, …]. A value joins a run only when `first + index * step`
 * (what decodeRuns computes) gives it back exactly.
 */
export function encodeRuns(values: readonly number[]): number[] {
  const runs: number[] = [];
  const n = values.length;
  let i = 0;
  while (i < n) {
    const first = values[i]!;
    let step = 0;
    let count = 1;
    if (i + 1 < n) {
      step = values[i + 1]! - first;
      if (first + step === values[i + 1]) {
        count = 2;
        while (i + count < n && first + count * step === values[i + count]) count++;
      } else {
        step = 0;
      }
    }
    runs.push(first, step, count);
    i += count;
  }
  return runs;
}

/** Inverse of encodeRuns; undefined when `runs` is not a valid run list. */
export function decodeRuns(runs: unknown): number[] | undefined {
  if (!Array.isArray(runs) || runs.length % 3 !== 0) return undefined;
  let total = 0;
  for (let r = 2; r < runs.length; r += 3) {
    const count = runs[r] as unknown;
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 1) return undefined;
    total += count;
  }
  const out = new Array<number>(total);
  let k = 0;
  for (let r = 0; r < runs.length; r += 3) {
    const first = runs[r] as unknown;
    const step = runs[r + 1] as unknown;
    if (typeof first !== 'number' || typeof step !== 'number' || !Number.isFinite(first) || !Number.isFinite(step)) return undefined;
    const count = runs[r + 2] as number;
    for (let c = 0; c < count; c++) out[k++] = first + c * step;
  }
  return out;
}

export function serializeProbe(probe: ProbeResult): string {
  const stored: StoredProbe = {
    format: PROBE_FORMAT,
    probe: { ...probe, video: { ...probe.video, framePts: encodeRuns(probe.video.framePts), keyframePts: encodeRuns(probe.video.keyframePts) } },
  };
  return JSON.stringify(stored);
}

/**
 * The probe from probe.json text in the current format; undefined for
 * anything else (unreadable, or written by an older prober), so the caller
 * probes again.
 */
export function deserializeProbe(text: string): ProbeResult | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Partial<StoredProbe>;
  if (record.format !== PROBE_FORMAT) return undefined;
  const stored = record.probe;
  if (!stored?.video) return undefined;
  const framePts = decodeRuns(stored.video.framePts);
  const keyframePts = decodeRuns(stored.video.keyframePts);
  if (!framePts || !keyframePts) return undefined;
  const probe: ProbeResult = { ...stored, video: { ...stored.video, framePts, keyframePts } };
  const { video } = probe;
  if (!Array.isArray(probe.audio) || video.framePts.length === 0 || typeof video.timescale !== 'number' || typeof video.endPts !== 'number') {
    return undefined;
  }
  return probe;
}
