/**
 * What prefetch costs a player (issue 12, point 3), figures that a test must
 * not assert because they depend on the machine's speed and load:
 *
 *   1. a seek while prefetch encodes: one worker, a player starts at segment
 *      1 (start-up prefetch sets off 2 and 3) and at once seeks to the
 *      middle; time to the seek's answer, prefetch on vs off;
 *   2. 50 concurrent requests for one cold mid-file segment of the 1080p
 *      bench source, prefetch on vs off (default workers: one per core);
 *   3. the prefetch hit ratio of a player at 1× on the 360p test source
 *      (video + audio, 10 segments of 2 s, after the first 3), the figure
 *      test/prefetch.test.ts used to assert (0.214 when the suite's own
 *      files ran beside it), with prefetch at nice 19 (the default) and 0.
 *
 * Run alone: npx tsx bench/preemption.ts [seek|stampede|hit-ratio …]
 * (all three without arguments; JSON on stdout, progress on stderr)
 */
import { copyFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultStreamingConfig, type StreamingConfig } from '../src/config/config.js';
import { silentLogger } from '../src/observe/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import { testSource } from '../test/support/media.js';
import { metricValue, scrape } from '../test/support/metrics.js';
import { registerContent } from './harness.js';
import { median, percentile } from './lib.js';
import { ensureMain1080p } from './sources.js';

const TRIALS = 3;
const STAMPEDE = 50;
const PLAYED = 10;

const log = (message: string) => process.stderr.write(`${message}\n`);

async function origin(mediaDir: string, changes: { prefetch: boolean; workers?: number; segmentDuration?: number; prefetchNice?: number }): Promise<RunningServer> {
  const defaults = defaultStreamingConfig();
  const streaming: StreamingConfig = {
    ...defaults,
    ...(changes.segmentDuration ? { segment_duration: changes.segmentDuration } : {}),
    prefetch: { ...defaults.prefetch, enabled: changes.prefetch },
    encoder: { ...defaults.encoder, workers: changes.workers ?? 0, ...(changes.prefetchNice !== undefined ? { prefetch_nice: changes.prefetchNice } : {}) },
  };
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-bench-preempt-'));
  return startServer({ mediaDir, cacheDir, port: 0, host: '127.0.0.1', streaming }, { logger: silentLogger() });
}

const timed = async (url: string) => {
  const started = performance.now();
  const response = await fetch(url);
  await response.arrayBuffer();
  return { ms: performance.now() - started, status: response.status };
};

async function seekWhilePrefetching(mediaDir: string, file: string, prefetch: boolean): Promise<number> {
  const server = await origin(mediaDir, { prefetch, workers: 1 });
  try {
    const { base, info } = await registerContent(server.url, file);
    const video = `${base}/video/${info.renditions[0]!.id}`;
    await timed(`${video}/segment_1.m4s`);
    const seek = await timed(`${video}/segment_${Math.ceil(info.segments / 2)}.m4s`);
    if (seek.status !== 200) throw new Error(`seek answered ${seek.status}`);
    return seek.ms;
  } finally {
    await server.close();
  }
}

async function stampede(mediaDir: string, file: string, prefetch: boolean): Promise<{ p50: number; max: number }> {
  const server = await origin(mediaDir, { prefetch });
  try {
    const { base, info } = await registerContent(server.url, file);
    const url = `${base}/video/${info.renditions[0]!.id}/segment_${Math.ceil(info.segments / 2)}.m4s`;
    const answers = await Promise.all(Array.from({ length: STAMPEDE }, () => timed(url)));
    if (answers.some((a) => a.status !== 200)) throw new Error('a stampede request failed');
    const ms = answers.map((a) => a.ms);
    return { p50: median(ms), max: percentile(ms, 100) };
  } finally {
    await server.close();
  }
}

async function hitRatioAt1x(mediaDir: string, file: string, prefetchNice: number): Promise<number> {
  const server = await origin(mediaDir, { prefetch: true, segmentDuration: 2, prefetchNice });
  try {
    const { base, info } = await registerContent(server.url, file);
    const tracks = [`${base}/video/${info.renditions[0]!.id}`, `${base}/audio/${info.audio[0]!.id}`];
    const misses = async () => metricValue(await scrape(server.url), 'jitseg_cache_misses_total');
    const started = performance.now();
    for (const track of tracks) await timed(`${track}/init.mp4`);
    let hits = 0;
    let counted = 0;
    for (let n = 1; n <= PLAYED; n++) {
      const due = started + (n - 1) * info.segmentDurations[0]! * 1000;
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      for (const track of tracks) {
        const before = await misses();
        await timed(`${track}/segment_${n}.m4s`);
        if (n > 3) {
          counted++;
          if ((await misses()) === before) hits++;
        }
      }
    }
    return hits / counted;
  } finally {
    await server.close();
  }
}

const round = (ms: number) => Math.round(ms);

async function main(): Promise<void> {
  const mediaDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-bench-preempt-media-'));
  const main1080p = await ensureMain1080p();
  await copyFile(main1080p, path.join(mediaDir, 'main-1080p.mp4'));
  await copyFile(await testSource('browser360p'), path.join(mediaDir, 'clip-360p.mp4'));
  const results: Record<string, unknown> = { cpus: os.availableParallelism(), loadavg: os.loadavg() };

  const only = process.argv.slice(2);
  const wanted = (part: string) => only.length === 0 || only.includes(part);

  if (wanted('seek')) {
    const seek: Record<string, number[]> = { on: [], off: [] };
    for (let t = 0; t < TRIALS; t++) {
      for (const prefetch of [true, false]) {
        const ms = await seekWhilePrefetching(mediaDir, 'main-1080p.mp4', prefetch);
        seek[prefetch ? 'on' : 'off']!.push(round(ms));
        log(`seek while prefetching (1 worker), prefetch ${prefetch ? 'on' : 'off'}: ${round(ms)} ms`);
      }
    }
    results.seekWhilePrefetchingMs = seek;
  }

  if (wanted('stampede')) {
    const stampedes: Record<string, { p50: number; max: number }[]> = { on: [], off: [] };
    for (let t = 0; t < TRIALS; t++) {
      for (const prefetch of [true, false]) {
        const { p50, max } = await stampede(mediaDir, 'main-1080p.mp4', prefetch);
        stampedes[prefetch ? 'on' : 'off']!.push({ p50: round(p50), max: round(max) });
        log(`${STAMPEDE} requests for one cold segment, prefetch ${prefetch ? 'on' : 'off'}: p50 ${round(p50)} ms, max ${round(max)} ms`);
      }
    }
    results.stampedeMs = stampedes;
  }

  if (wanted('hit-ratio')) {
    const ratios: Record<string, number[]> = { nice19: [], nice0: [] };
    for (let t = 0; t < TRIALS; t++) {
      for (const nice of [19, 0]) {
        const ratio = await hitRatioAt1x(mediaDir, 'clip-360p.mp4', nice);
        ratios[`nice${nice}`]!.push(Number(ratio.toFixed(3)));
        log(`player at 1× (360p, after the first 3 segments), prefetch at nice ${nice}: hit ratio ${ratio.toFixed(3)}`);
      }
    }
    results.hitRatioAt1x = ratios;
  }
  results.loadavgAfter = os.loadavg();
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
