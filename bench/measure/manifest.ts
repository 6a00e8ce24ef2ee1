/**
 * Cold and warm manifest latency: the first GET /vod/…/master.m3u8 (hash +
 * probe + plan) on a fresh server and cache, and the ones after it (the
 * plan in memory); optionally on a
 * server that already served another long content's cold manifest.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { connect, formatMs, median, timedRequest } from '../lib.js';
import { log, removeTempDir, startOrigin, tempDir, vodPath, type SourceFile } from '../harness.js';
import { BENCH_DIR } from '../sources.js';

/** Fresh server + fresh cache dir per cold manifest measurement. */
export const MANIFEST_TRIALS = 5;
/** Requests after the cold one, per trial: the warm figure is their median (one request alone is mostly the machine's noise). */
export const WARM_REQUESTS = 20;

export interface ManifestResult {
  label: string;
  file: string;
  /** Set for "running server" trials: the content whose cold manifest each fresh server served first. */
  afterWarmUp?: string;
  sizeBytes: number;
  coldMs: number[];
  warmMs: number[];
  coldMedianMs: number;
  warmMedianMs: number;
}

/**
 * Cold and warm manifest latency, each trial on a fresh server and cache.
 * With `warmUp`, each fresh server first serves the (cold) manifest of that
 * other source: the measured request is then new content on a running
 * server, whose code V8 has already compiled and optimised.
 */
export async function measureManifest(source: SourceFile, warmUp?: SourceFile, trials = MANIFEST_TRIALS): Promise<ManifestResult> {
  const coldMs: number[] = [];
  const warmMs: number[] = [];
  for (let trial = 0; trial < trials; trial++) {
    const cacheDir = await tempDir('jitseg-bench-cache-');
    const server = await startOrigin(cacheDir);
    const client = connect(server.url);
    try {
      if (warmUp) await timedRequest(client, vodPath(warmUp.name));
      const cold = await timedRequest(client, vodPath(source.name));
      if (!cold.body.toString('utf8').startsWith('#EXTM3U')) throw new Error(`${source.name}: the master playlist is not M3U`);
      const warmTrial: number[] = [];
      for (let i = 0; i < WARM_REQUESTS; i++) warmTrial.push((await timedRequest(client, vodPath(source.name))).ms);
      const warm = median(warmTrial);
      coldMs.push(cold.ms);
      warmMs.push(warm);
      log(`  ${source.label} trial ${trial + 1}: cold ${formatMs(cold.ms)}, warm ${formatMs(warm)} (median of ${WARM_REQUESTS})`);
    } finally {
      await client.close();
      await server.stop();
      await removeTempDir(cacheDir);
    }
  }
  return {
    label: source.label,
    file: path.join(BENCH_DIR, source.name),
    ...(warmUp ? { afterWarmUp: warmUp.name } : {}),
    sizeBytes: (await stat(path.join(BENCH_DIR, source.name))).size,
    coldMs,
    warmMs,
    coldMedianMs: median(coldMs),
    warmMedianMs: median(warmMs),
  };
}

export function reportManifests(manifests: ManifestResult[]): string[] {
  const ms = formatMs;
  const trials = manifests[0]?.coldMs.length ?? MANIFEST_TRIALS;
  return [
    `### Manifest latency (GET /vod/…/master.m3u8, median of ${trials} fresh servers + caches)`,
    '',
    `| Source | Size | Cold (hash + probe + plan) | Warm (plan in memory, median of ${WARM_REQUESTS} requests per trial) | Cold min – max |`,
    '|---|---:|---:|---:|---:|',
    ...manifests.map(
      (m) =>
        `| ${m.label} | ${(m.sizeBytes / 1e6).toFixed(0)} MB | ${ms(m.coldMedianMs)} | ${ms(m.warmMedianMs)} | ` +
        `${ms(Math.min(...m.coldMs))} – ${ms(Math.max(...m.coldMs))} |`,
    ),
    '',
    '"Running server": each fresh server first served the cold manifest of another long MP4 (30 min), so the',
    'request for the 2 h MP4 is new content on a server that has run (and V8 optimised) the probe once before.',
  ];
}
