/**
 * Probe stage entry point: learn a source's tracks and exact frame timeline,
 * off the event loop (pool.ts), within the limits (limits.ts), once per file
 * version when it fails: a refused file is remembered by (absolute path,
 * size, mtime), so asking again is answered from memory until the file
 * changes (or an hour passes, in case the refusal was the machine's fault).
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { LRUCache } from 'lru-cache';
import { Counter } from 'prom-client';
import type { ProbeResult } from './types.js';
import { ProbeError } from './errors.js';
import { probeWorkers, type ProbedSource } from './pool.js';
import { assertFirstFrame } from './decode-check.js';
import { PROBE_BUDGET } from './limits.js';

export { probeTestHooks, type ProbedSource } from './pool.js';
export { assertFirstFrame, type FirstFrameCheck } from './decode-check.js';

export type { ProbeResult, VideoTrackProbe, AudioTrackProbe } from './types.js';
export { ProbeError, isProbeError, type ProbeErrorKind } from './errors.js';
export { probeMp4, Mp4ProbeUnsupportedError } from './mp4.js';
export { probeWithFfprobe } from './ffprobe.js';
export { probeFile } from './probe-file.js';
export { PROBE_BUDGET, PROBE_LIMITS } from './limits.js';

/** Refusals remembered: a bounded map, so crafted files cannot grow it without limit. */
const refusals = new LRUCache<string, ProbeError>({ max: 1024, ttl: 60 * 60_000 });

export type ProbeOutcome = 'streamable' | 'refused' | 'remembered' | 'error';

/** Probes by outcome; `remembered` ones ran no probe (for /metrics: the server registers it). */
export const probeCounter = new Counter({
  name: 'jitseg_probes_total',
  help: 'Source probes by outcome: streamable, refused (415), remembered (a refusal answered from memory, no probe run), error',
  labelNames: ['outcome'] as const,
  registers: [],
});

const counts: Record<ProbeOutcome, number> = { streamable: 0, refused: 0, remembered: 0, error: 0 };

/** Probes so far by outcome, in this process (probes run = all but `remembered`). */
export function probeCounts(): Readonly<Record<ProbeOutcome, number>> {
  return { ...counts };
}

function count(outcome: ProbeOutcome): void {
  counts[outcome]++;
  probeCounter.inc({ outcome });
}

/** Starts a probe worker now, so the first request does not wait for it to load; resolves once it has. */
export function warmProbeWorkers(): Promise<void> {
  return probeWorkers.warm();
}

/** The probe of a source file, its first frame decoded (decode-check.ts) before it is returned. */
export async function probeSource(path: string): Promise<ProbeResult> {
  const deadline = Date.now() + PROBE_BUDGET.timeMs;
  const { probe, firstFrame } = await probeSourceDeferred(path);
  await assertFirstFrame(firstFrame, resolve(path), deadline);
  return probe;
}

/**
 * The probe of a source file, and its first-frame decode check for the
 * caller to run (assertFirstFrame) before it trusts the file's pictures:
 * the check costs an ffmpeg start, which a manifest need not wait for.
 */
export async function probeSourceDeferred(path: string): Promise<ProbedSource> {
  const absolute = resolve(path);
  let info;
  try {
    info = await stat(absolute);
  } catch (err) {
    throw new ProbeError('unreadable', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!info.isFile()) throw new ProbeError('unreadable', `${path} is not a regular file`);
  const key = `${absolute}\0${info.size}\0${info.mtimeMs}`;
  const known = refusals.get(key);
  if (known) {
    count('remembered');
    throw new ProbeError(known.kind, known.reason);
  }
  try {
    const probed = await probeWorkers.probe(absolute);
    count('streamable');
    return probed;
  } catch (err) {
    // The file's own fault is remembered; an unreadable file (permissions may change) or our own trouble is not.
    if (err instanceof ProbeError && err.kind !== 'unreadable') {
      refusals.set(key, err);
      count('refused');
    } else {
      count('error');
    }
    throw err;
  }
}
