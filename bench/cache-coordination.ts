/**
 * Cache, coordination and prefetch figures for `npm run bench`:
 *
 *   1. requests per encode under a stampede: 100 concurrent requests for one
 *      cold segment against one origin, and spread over three origins on one
 *      Redis (redis-server on loopback);
 *   2. prefetch hit ratio of a player at 1× (720p video + audio, linear,
 *      after the first 3 segments and overall);
 *   3. the start-up rebuild of the disk cache index for 100 000 segments,
 *      from the snapshot and from a bare listing.
 *
 * Also runnable alone: npx tsx bench/cache-coordination.ts
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { defaultStreamingConfig, type StreamingConfig } from '../src/config/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { silentLogger } from '../src/observe/log.js';
import { SegmentCache } from '../src/store/segment-cache.js';
import { metricValue, scrape } from '../test/support/metrics.js';
import { startRedis } from '../test/support/redis.js';
import { registerContent } from './harness.js';
import { median } from './lib.js';
import { BENCH_DIR, ensureMain1080p } from './sources.js';

const STAMPEDE_REQUESTS = 100;
const REBUILD_ENTRIES = 100_000;
const REBUILD_TRIALS = 3;

export interface CacheCoordinationResults {
  stampede: { setup: string; requests: number; encodes: number; requestsPerEncode: number; wallMs: number; identical: boolean }[];
  linearPlay: {
    source: string;
    rendition: string;
    segments: number;
    speed: number;
    /** Segments per track not counted in hitRatioAfterStartup. */
    startupSegments: number;
    hitsAfterStartup: number;
    countedAfterStartup: number;
    hitRatioAfterStartup: number;
    hitRatioOverall: number;
    playedSeconds: number;
  };
  rebuild: { entries: number; fromSnapshotMs: number; fromListingMs: number };
}

const log = (message: string) => process.stderr.write(`${message}\n`);

/** Each origin's cache dir, removed when it stops (stopOrigins). */
const cacheDirs = new WeakMap<RunningServer, string>();

async function origins(count: number, streaming: StreamingConfig, redisUrl?: string): Promise<RunningServer[]> {
  const servers: RunningServer[] = [];
  for (let i = 0; i < count; i++) {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-bench-cc-'));
    const server = await startServer({ mediaDir: BENCH_DIR, cacheDir, port: 0, host: '127.0.0.1', streaming, ...(redisUrl ? { redisUrl } : {}) }, { logger: silentLogger() });
    cacheDirs.set(server, cacheDir);
    servers.push(server);
  }
  return servers;
}

async function stopOrigins(servers: RunningServer[]): Promise<void> {
  await Promise.all(
    servers.map(async (s) => {
      await s.close();
      const dir = cacheDirs.get(s);
      if (dir) await rm(dir, { recursive: true, force: true });
    }),
  );
}

async function stampede(setup: string, servers: RunningServer[], file: string): Promise<CacheCoordinationResults['stampede'][number]> {
  const { hash, info } = await registerContent(servers[0]!.url, file);
  for (const s of servers.slice(1)) await registerContent(s.url, file);
  const segment = `/api/v1/content/${hash}/video/${info.renditions[0]!.id}/segment_${Math.ceil(info.segments / 2)}.m4s`;
  const started = performance.now();
  const bodies = await Promise.all(
    Array.from({ length: STAMPEDE_REQUESTS }, async (_, k) => Buffer.from(await (await fetch(`${servers[k % servers.length]!.url}${segment}`)).arrayBuffer())),
  );
  const wallMs = performance.now() - started;
  let encodes = 0;
  for (const s of servers) encodes += metricValue(await scrape(s.url), 'jitseg_transcodes_total', { kind: 'video' });
  return {
    setup,
    requests: STAMPEDE_REQUESTS,
    encodes,
    requestsPerEncode: STAMPEDE_REQUESTS / Math.max(1, encodes),
    wallMs,
    identical: bodies.every((b) => b.equals(bodies[0]!)),
  };
}

/**
 * A player-like client on a fresh origin (the defaults: prefetch on): the
 * 720p video and audio inits, then segment n of both tracks when n is due at
 * `speed` × real time (or when the previous answer comes, if later). A
 * request is a hit when the origin's cache-miss counter did not move, i.e.
 * the segment was already made (prefetch) when it was asked for.
 */
export async function linearPlay(file: string, options: { speed?: number; startupSegments?: number } = {}): Promise<CacheCoordinationResults['linearPlay']> {
  const speed = options.speed ?? 1;
  const startup = options.startupSegments ?? 3;
  const [server] = await origins(1, defaultStreamingConfig());
  try {
    const { hash, info } = await registerContent(server!.url, file);
    // The rendition a player on a middling link starts with: 1080p on 2 shared cores encodes at about real time, so
    // no prefetch could get ahead of a 1× player there (the cold-segment figures above show the encode speed).
    const top = info.renditions.find((r) => r.name === '720p') ?? info.renditions[0]!;
    const tracks = [`/api/v1/content/${hash}/video/${top.id}`, `/api/v1/content/${hash}/audio/${info.audio[0]!.id}`];
    const misses = async () => metricValue(await scrape(server!.url), 'jitseg_cache_misses_total');
    const started = performance.now();
    for (const t of tracks) await (await fetch(`${server!.url}${t}/init.mp4`)).arrayBuffer();
    let due = started;
    let hitsAfter = 0;
    let countedAfter = 0;
    let hits = 0;
    for (let n = 1; n <= info.segments; n++) {
      await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      due += (info.segmentDurations[n - 1]! * 1000) / speed;
      for (const t of tracks) {
        const before = await misses();
        await (await fetch(`${server!.url}${t}/segment_${n}.m4s`)).arrayBuffer();
        const hit = (await misses()) === before ? 1 : 0;
        hits += hit;
        if (n > startup) {
          hitsAfter += hit;
          countedAfter++;
        }
      }
    }
    return {
      source: file,
      rendition: top.name,
      segments: info.segments,
      speed,
      startupSegments: startup,
      hitsAfterStartup: hitsAfter,
      countedAfterStartup: countedAfter,
      hitRatioAfterStartup: countedAfter ? hitsAfter / countedAfter : 1,
      hitRatioOverall: hits / (info.segments * tracks.length),
      playedSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    await stopOrigins([server!]);
  }
}

async function rebuild(): Promise<CacheCoordinationResults['rebuild']> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'jitseg-bench-rebuild-'));
  try {
    // 100 contents × 4 renditions × 250 segments of 1 KiB.
    const body = Buffer.alloc(1024);
    let made = 0;
    for (let c = 0; made < REBUILD_ENTRIES; c++) {
      const hash = c.toString(16).padStart(64, '0');
      for (let r = 0; r < 4 && made < REBUILD_ENTRIES; r++) {
        const dir = path.join(root, hash, 'video', `r${r}`);
        await mkdir(dir, { recursive: true });
        const writes: Promise<void>[] = [];
        for (let n = 1; n <= 250 && made < REBUILD_ENTRIES; n++, made++) writes.push(writeFile(path.join(dir, `segment_${n}.m4s`), body));
        await Promise.all(writes);
      }
    }
    const load = async (): Promise<number> => {
      const cache = new SegmentCache(root, { maxBytes: 1e12, retentionMs: 0 });
      const t = performance.now();
      const count = await cache.load();
      const elapsed = performance.now() - t;
      if (count !== REBUILD_ENTRIES) throw new Error(`rebuild found ${count} of ${REBUILD_ENTRIES} segments`);
      await cache.close(); // writes the snapshot
      return elapsed;
    };
    const snapshot = path.join(root, 'index', 'segments.json');
    const fromListing: number[] = [];
    const fromSnapshot: number[] = [];
    for (let i = 0; i < REBUILD_TRIALS; i++) {
      await rm(snapshot, { force: true });
      fromListing.push(await load());
      fromSnapshot.push(await load());
    }
    return { entries: REBUILD_ENTRIES, fromSnapshotMs: median(fromSnapshot), fromListingMs: median(fromListing) };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export async function measureCacheAndCoordination(): Promise<CacheCoordinationResults> {
  const file = path.basename(await ensureMain1080p());
  const noPrefetch: StreamingConfig = { ...defaultStreamingConfig(), prefetch: { ...defaultStreamingConfig().prefetch, enabled: false } };
  const results: CacheCoordinationResults['stampede'] = [];

  log(`[bench] stampede: ${STAMPEDE_REQUESTS} requests, one origin`);
  const single = await origins(1, noPrefetch);
  try {
    results.push(await stampede('one origin', single, file));
  } finally {
    await stopOrigins(single);
  }

  log(`[bench] stampede: ${STAMPEDE_REQUESTS} requests over three origins on one Redis`);
  const redis = await startRedis();
  try {
    const cluster = await origins(3, noPrefetch, redis.url);
    try {
      results.push(await stampede('three origins, one Redis, own caches', cluster, file));
    } finally {
      await stopOrigins(cluster);
    }
  } finally {
    await redis.stop();
  }

  log('[bench] prefetch: a player at 1×');
  const linear = await linearPlay(file);
  log(`[bench] cache index rebuild: ${REBUILD_ENTRIES} segments`);
  return { stampede: results, linearPlay: linear, rebuild: await rebuild() };
}

export function reportCacheAndCoordination(r: CacheCoordinationResults): string[] {
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  return [
    '',
    '### Cache, coordination and prefetch',
    '',
    '| Measurement | Value |',
    '|---|---:|',
    ...r.stampede.map(
      (s) => `| Stampede, ${s.setup}: ${s.requests} concurrent requests for one cold segment | ${s.encodes} encode(s), ${s.requestsPerEncode.toFixed(0)} requests per encode, all in ${Math.round(s.wallMs)} ms, bodies identical: ${s.identical ? 'yes' : '**no**'} |`,
    ),
    `| Prefetch, player at 1× (${r.linearPlay.source}, ${r.linearPlay.rendition} + audio, ${r.linearPlay.segments} segments): hits after the first 3 | ${pct(r.linearPlay.hitRatioAfterStartup)} (overall ${pct(r.linearPlay.hitRatioOverall)}) |`,
    `| Cache index rebuild at start-up, ${r.rebuild.entries.toLocaleString('en')} segments, from the snapshot | ${Math.round(r.rebuild.fromSnapshotMs)} ms |`,
    `| … without a snapshot (listing + a stat per file) | ${Math.round(r.rebuild.fromListingMs)} ms |`,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await measureCacheAndCoordination();
  console.log(reportCacheAndCoordination(results).join('\n'));
}
