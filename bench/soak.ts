/**
 * Memory soak for `npm run bench`: one origin (its own process, bench config)
 * gets 1,000 distinct cold registrations (POST /api/v1/content, then the
 * master playlist of each), then 20,000 warm requests over 50 keep-alive
 * connections (segments already made and their playlists), and its resident
 * memory is read before, between and after: VmRSS and VmHWM from
 * /proc/<pid>/status and the process series of /metrics.
 *
 * The 1,000 files are one tiny ffmpeg-made MP4 (2 s, 320x180) copied with a
 * different trailing `free` box each: valid MP4s with 1,000 content hashes,
 * made in milliseconds.
 *
 * Also runnable alone:  npx tsx bench/soak.ts [--quick]   (--quick: 100 files, 2,000 requests)
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { Pool } from 'undici';
import { metricValue } from '../test/support/metrics.js';
import { cleanup, log, mib, removeTempDir, SERVE_SCRIPT, tempDir, track } from './harness.js';
import { formatMs, getJson, HttpError, percentile, procMemory, startChildServer, timedRequest, type ChildServer } from './lib.js';
import { BENCH_DIR } from './sources.js';

export interface SoakCounts {
  coldFiles: number;
  warmRequests: number;
  connections: number;
  /** Concurrent registrations (a player fleet opening new titles). */
  coldConcurrency: number;
  /** Contents whose first video and audio segments are made and then requested warm. */
  warmContents: number;
}

export const SOAK_COUNTS: SoakCounts = { coldFiles: 1_000, warmRequests: 20_000, connections: 50, coldConcurrency: 8, warmContents: 10 };
export const QUICK_SOAK_COUNTS: SoakCounts = { coldFiles: 100, warmRequests: 2_000, connections: 50, coldConcurrency: 8, warmContents: 5 };

/** The origin's memory at one point of the soak. */
interface MemoryPoint {
  at: string;
  /** /proc/<pid>/status. */
  vmRssBytes: number;
  vmHwmBytes: number;
  /** /metrics: prom-client's process and heap series. */
  metricsRssBytes: number;
  heapUsedBytes: number;
}

export interface SoakResults {
  counts: SoakCounts;
  distinctHashes: number;
  cold: { seconds: number; p50Ms: number; p99Ms: number };
  warm: { requests: number; seconds: number; requestsPerSecond: number; p50Ms: number; p99Ms: number; urls: number; bytes: number };
  memory: MemoryPoint[];
}

const BASE_CLIP = path.join(BENCH_DIR, 'soak-base-2s.mp4');

/** The tiny clip every soak file is a copy of (made once, cached next to the other bench sources). */
async function ensureBaseClip(): Promise<Buffer> {
  const existing = await readFile(BASE_CLIP).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing) return existing;
  await mkdir(BENCH_DIR, { recursive: true });
  // Written under a temporary name and renamed when complete: an interrupted run leaves nothing a later one would trust.
  const temp = `${BASE_CLIP}.${process.pid}.tmp.mp4`;
  try {
    await execa('ffmpeg', [
      '-hide_banner', '-v', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25:duration=2', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=2',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k', temp,
    ]);
    await rename(temp, BASE_CLIP);
  } finally {
    await rm(temp, { force: true });
  }
  return readFile(BASE_CLIP);
}

/** `count` distinct MP4s in `dir`: the base clip plus a top-level `free` box naming its number. */
async function makeSoakFiles(dir: string, count: number): Promise<string[]> {
  const base = await ensureBaseClip();
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(`jitseg soak file ${i}`);
    const box = Buffer.alloc(8 + payload.length);
    box.writeUInt32BE(box.length, 0);
    box.write('free', 4, 'latin1');
    payload.copy(box, 8);
    const name = `soak-${String(i).padStart(4, '0')}.mp4`;
    await writeFile(path.join(dir, name), Buffer.concat([base, box]));
    names.push(name);
  }
  return names;
}

async function memoryAt(origin: ChildServer, pool: Pool, at: string): Promise<MemoryPoint> {
  const proc = await procMemory(origin.pid);
  const metrics = (await timedRequest(pool, '/metrics')).body.toString('utf8');
  const point = {
    at,
    vmRssBytes: proc.rssBytes,
    vmHwmBytes: proc.peakRssBytes,
    metricsRssBytes: metricValue(metrics, 'jitseg_process_resident_memory_bytes'),
    heapUsedBytes: metricValue(metrics, 'jitseg_nodejs_heap_size_used_bytes'),
  };
  log(`  ${at}: VmRSS ${mib(point.vmRssBytes)} (peak ${mib(point.vmHwmBytes)}), /metrics RSS ${mib(point.metricsRssBytes)}, heap used ${mib(point.heapUsedBytes)}`);
  return point;
}

/** Runs `work` over `items` with `concurrency` loops. */
async function inParallel<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/** Registers every file (POST, then its master playlist), returning the hashes and each registration's latency. */
async function registerAll(pool: Pool, names: string[], concurrency: number): Promise<{ hashes: string[]; ms: number[] }> {
  const hashes: string[] = [];
  const ms: number[] = [];
  await inParallel(names, concurrency, async (name) => {
    const t0 = performance.now();
    const { hash } = await getJson<{ hash: string }>(pool, '/api/v1/content', { method: 'POST', json: { path: name }, expectStatus: 201 });
    const master = await timedRequest(pool, `/api/v1/content/${hash}/master.m3u8`);
    if (!master.body.toString('utf8').startsWith('#EXTM3U')) throw new Error(`${name}: the master playlist is not M3U`);
    ms.push(performance.now() - t0);
    hashes.push(hash);
  });
  return { hashes, ms };
}

/** For each content: its master and media playlists, and its first video and audio segments (made now, once). */
async function warmUrls(pool: Pool, hashes: string[]): Promise<string[]> {
  const urls: string[] = [];
  for (const hash of hashes) {
    const info = await getJson<{ renditions: { id: string }[]; audio: { id: string }[] }>(pool, `/api/v1/content/${hash}/info`);
    const base = `/api/v1/content/${hash}`;
    const video = `${base}/video/${info.renditions[0]!.id}`;
    urls.push(`${base}/master.m3u8`, `${video}/playlist.m3u8`, `${video}/segment_1.m4s`);
    if (info.audio[0]) urls.push(`${base}/audio/${info.audio[0].id}/segment_1.m4s`);
  }
  // Made (cold) here, so that what follows is warm; a URL that does not answer 200 aborts the soak.
  for (const url of urls) await timedRequest(pool, url);
  return urls;
}

/** `total` GETs spread round-robin over `urls`, `connections` at a time. */
async function warmLoad(pool: Pool, urls: string[], total: number, connections: number) {
  const latencies: number[] = [];
  let sent = 0;
  let bytes = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (sent < total) {
      const url = urls[sent++ % urls.length]!;
      const started = performance.now();
      const res = await pool.request({ path: url, method: 'GET' });
      let size = 0;
      for await (const chunk of res.body) size += (chunk as Buffer).length;
      if (res.statusCode !== 200) throw new HttpError(`GET ${url} in the soak: HTTP ${res.statusCode}`);
      latencies.push(performance.now() - started);
      bytes += size;
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  return { requests: latencies.length, seconds, requestsPerSecond: latencies.length / seconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), urls: urls.length, bytes };
}

export async function measureSoak(counts: SoakCounts = SOAK_COUNTS): Promise<SoakResults> {
  const mediaDir = await tempDir('jitseg-bench-soak-media-');
  const cacheDir = await tempDir('jitseg-bench-soak-cache-');
  log(`  making ${counts.coldFiles} distinct small MP4s`);
  const names = await makeSoakFiles(mediaDir, counts.coldFiles);
  const origin = track(await startChildServer(SERVE_SCRIPT, ['origin', mediaDir, cacheDir]));
  const pool = new Pool(origin.url, { connections: counts.connections, keepAliveTimeout: 30_000 });
  try {
    const memory = [await memoryAt(origin, pool, 'start')];
    const c0 = performance.now();
    const { hashes, ms } = await registerAll(pool, names, counts.coldConcurrency);
    const cold = { seconds: (performance.now() - c0) / 1000, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99) };
    const distinctHashes = new Set(hashes).size;
    if (distinctHashes !== counts.coldFiles) throw new Error(`${counts.coldFiles} files gave ${distinctHashes} distinct hashes`);
    log(`  ${counts.coldFiles} cold registrations in ${cold.seconds.toFixed(1)} s (p50 ${formatMs(cold.p50Ms)}, p99 ${formatMs(cold.p99Ms)})`);
    memory.push(await memoryAt(origin, pool, `after ${counts.coldFiles.toLocaleString('en')} cold registrations`));
    const urls = await warmUrls(pool, hashes.slice(0, counts.warmContents));
    const warm = await warmLoad(pool, urls, counts.warmRequests, counts.connections);
    log(`  ${warm.requests} warm requests over ${counts.connections} connections in ${warm.seconds.toFixed(1)} s (${Math.round(warm.requestsPerSecond)} req/s, p50 ${formatMs(warm.p50Ms)}, p99 ${formatMs(warm.p99Ms)})`);
    memory.push(await memoryAt(origin, pool, `after ${warm.requests.toLocaleString('en')} warm requests`));
    return { counts, distinctHashes, cold, warm, memory };
  } finally {
    await pool.close();
    await origin.stop();
    await removeTempDir(cacheDir);
    await removeTempDir(mediaDir);
  }
}

export function reportSoak(r: SoakResults): string[] {
  return [
    '',
    `### Memory soak (${r.counts.coldFiles.toLocaleString('en')} distinct cold registrations, then ${r.warm.requests.toLocaleString('en')} warm requests over ${r.counts.connections} connections)`,
    '',
    '| Origin process | VmRSS | VmHWM (peak) | /metrics RSS | Heap used |',
    '|---|---:|---:|---:|---:|',
    ...r.memory.map((m) => `| ${m.at} | ${mib(m.vmRssBytes)} | ${mib(m.vmHwmBytes)} | ${mib(m.metricsRssBytes)} | ${mib(m.heapUsedBytes)} |`),
    '',
    `Cold registrations (POST /api/v1/content + master playlist, ${r.counts.coldConcurrency} at a time): ${r.cold.seconds.toFixed(1)} s, p50 ${formatMs(r.cold.p50Ms)}, p99 ${formatMs(r.cold.p99Ms)}. ` +
      `Warm: ${Math.round(r.warm.requestsPerSecond)} req/s, p50 ${formatMs(r.warm.p50Ms)}, p99 ${formatMs(r.warm.p99Ms)} over ${r.warm.urls} URLs ` +
      `(master and media playlists, first video and audio segments of ${r.counts.warmContents} contents).`,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(reportSoak(await measureSoak(process.argv.includes('--quick') ? QUICK_SOAK_COUNTS : SOAK_COUNTS)).join('\n'));
  } finally {
    await cleanup();
  }
}
