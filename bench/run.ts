/**
 * jitseg latency bench:  npm run bench   (see bench/README.md)
 *
 *   1. cold/warm manifest latency (first /vod/…/master.m3u8 on a fresh server
 *      and cache) for a 2-hour MP4, the same content as MKV, and a 30 s 1080p MP4;
 *   2. cold segment latency (720p, 1080p) next to the bare ffmpeg command the
 *      origin runs for the same span;
 *   3. warm segment latency and throughput next to a plain static file server.
 *
 * Prints markdown tables and writes bench/results/latest.json.
 *
 * Internal mode:  run.ts --serve origin <mediaDir> <cacheDir>
 *                 run.ts --serve static <file>
 * starts one server in this (child) process; see startChildServer in lib.ts.
 */
import { createReadStream, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { defaultStreamingConfig, type StreamingConfig } from '../src/config/config.js';
import { makePlan, segmentFileName, type Plan } from '../src/plan/plan.js';
import { probeSource } from '../src/probe/index.js';
import { packagerPath } from '../src/process/runner.js';
import { videoEncodeArgs } from '../src/transcode/ffmpeg-args.js';
import {
  connect,
  formatMs,
  getJson,
  killChildServers,
  loadTest,
  median,
  percentile,
  pickDistinct,
  round,
  seededRandom,
  sequentialGets,
  serveUntilStopped,
  startChildServer,
  timedRequest,
  type ChildServer,
  type LoadResult,
} from './lib.js';
import { BENCH_DIR, ensureLongMkv, ensureLongMp4, ensureMain1080p } from './sources.js';

const SELF = fileURLToPath(import.meta.url);
const RESULTS_FILE = fileURLToPath(new URL('./results/latest.json', import.meta.url));

/** Fresh server + fresh cache dir per cold manifest measurement. */
const MANIFEST_TRIALS = 5;
/** Cold segments sampled per rendition (the 30 s source has ~8 segments). */
const COLD_SEGMENTS = 6;
/** Fixed seed: every run samples the same segment numbers, so runs are comparable. */
const SEED = 20240611;
const COLD_RENDITIONS = ['720p', '1080p'] as const;
const WARM_SEQUENTIAL = 200;
const WARM_WARMUP = 10;
const LOAD_CLIENTS = 50;
const LOAD_MS = 3_000;

/**
 * The origin's defaults, with read-ahead encoding off: a background encode
 * started by one request would overlap the next measurement (or the bare
 * ffmpeg run) on this 2-core machine. buffer_ahead is not an input of the plan.
 */
const benchStreamingConfig = (): StreamingConfig => ({ ...defaultStreamingConfig(), buffer_ahead: 0 });

// ---------------------------------------------------------------------------
// Child mode: one server per process

async function serveChild(args: string[]): Promise<void> {
  const [kind, ...rest] = args;
  if (kind === 'origin') {
    const [mediaDir, cacheDir] = rest as [string, string];
    const { startServer } = await import('../src/server.js');
    const server = await startServer({ mediaDir, cacheDir, port: 0, host: '127.0.0.1', streaming: benchStreamingConfig() });
    serveUntilStopped(server.url, server.close);
  } else if (kind === 'static') {
    // The baseline: what serving the cached segment file costs with nothing but node:http and a read stream.
    const [file] = rest as [string];
    const server = http.createServer((_req, res) => {
      stat(file).then(
        (info) => {
          res.writeHead(200, { 'Content-Type': 'video/mp4', 'Content-Length': info.size });
          createReadStream(file).pipe(res);
        },
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    serveUntilStopped(`http://127.0.0.1:${port}`, () => new Promise<void>((resolve) => server.close(() => resolve())));
  } else {
    throw new Error(`unknown --serve kind "${kind}"`);
  }
}

// ---------------------------------------------------------------------------
// Resources to clean up, also on Ctrl-C

const tempDirs = new Set<string>();
const servers = new Set<ChildServer>();

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

const startOrigin = async (cacheDir: string): Promise<ChildServer> => track(await startChildServer(SELF, ['--serve', 'origin', BENCH_DIR, cacheDir]));
const startStatic = async (file: string): Promise<ChildServer> => track(await startChildServer(SELF, ['--serve', 'static', file]));

function track(server: ChildServer): ChildServer {
  servers.add(server);
  return {
    url: server.url,
    stop: async () => {
      await server.stop();
      servers.delete(server);
    },
  };
}

async function cleanup(): Promise<void> {
  await Promise.all([...servers].map((s) => s.stop()));
  await Promise.all([...tempDirs].map((d) => removeTempDir(d)));
}

/** Ctrl-C: stop the child servers and remove temp dirs synchronously, then leave. */
function exitOnInterrupt(): void {
  process.once('SIGINT', () => {
    killChildServers();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------
// Measurements

interface SourceFile {
  key: string;
  label: string;
  /** Relative to BENCH_DIR, the media root. */
  name: string;
}

interface ManifestResult {
  label: string;
  file: string;
  sizeBytes: number;
  coldMs: number[];
  warmMs: number[];
  coldMedianMs: number;
  warmMedianMs: number;
}

const vodPath = (name: string) => `/vod/${encodeURIComponent(name)}/master.m3u8`;

async function measureManifest(source: SourceFile): Promise<ManifestResult> {
  const coldMs: number[] = [];
  const warmMs: number[] = [];
  for (let trial = 0; trial < MANIFEST_TRIALS; trial++) {
    const cacheDir = await tempDir('jitseg-bench-cache-');
    const server = await startOrigin(cacheDir);
    const client = connect(server.url);
    try {
      const cold = await timedRequest(client, vodPath(source.name));
      if (!cold.body.toString('utf8').startsWith('#EXTM3U')) throw new Error(`${source.name}: the master playlist is not M3U`);
      const warm = await timedRequest(client, vodPath(source.name));
      coldMs.push(cold.ms);
      warmMs.push(warm.ms);
      log(`  ${source.label} trial ${trial + 1}: cold ${formatMs(cold.ms)}, warm ${formatMs(warm.ms)}`);
    } finally {
      await client.close();
      await server.stop();
      await removeTempDir(cacheDir);
    }
  }
  return {
    label: source.label,
    file: path.join(BENCH_DIR, source.name),
    sizeBytes: (await stat(path.join(BENCH_DIR, source.name))).size,
    coldMs,
    warmMs,
    coldMedianMs: median(coldMs),
    warmMedianMs: median(warmMs),
  };
}

interface Info {
  hash: string;
  segments: number;
  segmentDurations: number[];
  renditions: { id: string; name: string; width: number; height: number; bitrateKbps: number }[];
  audio: { id: string }[];
}

interface ColdSample {
  number: number;
  durationSeconds: number;
  bytes: number;
  jitsegMs: number;
  bareMs: number;
  ratio: number;
}

interface ColdResult {
  renditionId: string;
  width: number;
  height: number;
  samples: ColdSample[];
  jitsegP50Ms: number;
  jitsegP95Ms: number;
  bareP50Ms: number;
  bareP95Ms: number;
  medianRatio: number;
}

/** The exact ffmpeg command the origin would run for this span, timed, writing into a temp .ts. */
async function bareFfmpeg(sourcePath: string, plan: Plan, renditionName: string, number: number, workDir: string): Promise<number> {
  const rendition = plan.renditions.find((r) => r.name === renditionName)!;
  const out = path.join(workDir, `bare-${renditionName}-${number}.ts`);
  const args = videoEncodeArgs(sourcePath, plan, rendition, plan.videoSegments[number - 1]!, out);
  const t0 = performance.now();
  await execa('ffmpeg', args, { stdin: 'ignore' });
  const ms = performance.now() - t0;
  if ((await stat(out)).size === 0) throw new Error(`bare ffmpeg wrote nothing for ${renditionName} segment ${number}`);
  await rm(out, { force: true });
  return ms;
}

interface WarmSide {
  sequential: { p50Ms: number; p99Ms: number };
  concurrent: LoadResult;
}

interface SegmentResults {
  hash: string;
  segmentCount: number;
  segmentNumbers: number[];
  cold: Record<string, ColdResult>;
  warm: { renditionId: string; renditionName: string; number: number; bytes: number; jitseg: WarmSide; static: WarmSide };
}

async function measureSegments(sourceName: string): Promise<SegmentResults> {
  const sourcePath = path.join(BENCH_DIR, sourceName);
  const cacheDir = await tempDir('jitseg-bench-cache-');
  const workDir = await tempDir('jitseg-bench-bare-');
  const origin = await startOrigin(cacheDir);
  const client = connect(origin.url);
  try {
    const { hash } = await getJson<{ hash: string }>(client, '/api/v1/content', { method: 'POST', json: { path: sourceName }, expectStatus: 201 });
    const info = await getJson<Info>(client, `/api/v1/content/${hash}/info`);
    const base = `/api/v1/content/${hash}`;

    // The baseline needs the origin's plan: same probe, same config.
    const plan = makePlan(await probeSource(sourcePath), benchStreamingConfig());
    const sameIds = plan.renditions.map((r) => r.id).join() === info.renditions.map((r) => r.id).join();
    if (!sameIds || plan.videoSegments.length !== info.segments) {
      throw new Error('the local plan does not match the server (rendition ids or segment count differ): the baseline would encode something else');
    }
    const byName = (name: string) => {
      const rendition = info.renditions.find((r) => r.name === name);
      if (!rendition) throw new Error(`${sourceName} has no ${name} rendition (has ${info.renditions.map((r) => r.name).join(', ')})`);
      return rendition;
    };

    const numbers = pickDistinct(seededRandom(SEED), info.segments, COLD_SEGMENTS);
    if (numbers.length < COLD_SEGMENTS) log(`  note: only ${numbers.length} segments to sample`);
    log(`  segments sampled (seed ${SEED}): ${numbers.join(', ')} of ${info.segments}`);

    // First-request costs of the process (JIT, first packager run) are not what "cold segment" means:
    // warm them up on a segment that is not measured.
    const spare = info.renditions.find((r) => !(COLD_RENDITIONS as readonly string[]).includes(r.name) && r.name !== info.renditions[0]!.name);
    const warmup = spare ? `${base}/video/${spare.id}/segment_1.m4s` : `${base}/audio/${info.audio[0]!.id}/segment_1.m4s`;
    log(`  warm-up (not measured): ${formatMs((await timedRequest(client, warmup)).ms)}`);

    // Renditions the source has among the measured ones (a small source has only its own size).
    const coldNames: string[] = COLD_RENDITIONS.filter((name) => info.renditions.some((r) => r.name === name));
    if (coldNames.length === 0) coldNames.push(info.renditions[0]!.name);
    const cold: Record<string, ColdResult> = {};
    for (const name of coldNames) {
      const rendition = byName(name);
      const samples: ColdSample[] = [];
      for (const [k, number] of numbers.entries()) {
        const segmentPath = `${base}/video/${rendition.id}/${segmentFileName(plan.segmentTemplate, number)}`;
        // Alternate which of the pair runs first, so neither always inherits the other's warm caches.
        let jitseg: { ms: number; bytes: number };
        let bareMs: number;
        if (k % 2 === 0) {
          jitseg = await timedRequest(client, segmentPath);
          bareMs = await bareFfmpeg(sourcePath, plan, name, number, workDir);
        } else {
          bareMs = await bareFfmpeg(sourcePath, plan, name, number, workDir);
          jitseg = await timedRequest(client, segmentPath);
        }
        const sample = {
          number,
          durationSeconds: round(info.segmentDurations[number - 1]!, 4),
          bytes: jitseg.bytes,
          jitsegMs: jitseg.ms,
          bareMs,
          ratio: jitseg.ms / bareMs,
        };
        samples.push(sample);
        log(`  ${name} segment ${number} (${sample.durationSeconds} s): jitseg ${formatMs(jitseg.ms)}, bare ffmpeg ${formatMs(bareMs)}, ×${sample.ratio.toFixed(2)}`);
      }
      const jitsegMs = samples.map((s) => s.jitsegMs);
      const bare = samples.map((s) => s.bareMs);
      cold[name] = {
        renditionId: rendition.id,
        width: rendition.width,
        height: rendition.height,
        samples,
        jitsegP50Ms: percentile(jitsegMs, 50),
        jitsegP95Ms: percentile(jitsegMs, 95),
        bareP50Ms: percentile(bare, 50),
        bareP95Ms: percentile(bare, 95),
        medianRatio: median(samples.map((s) => s.ratio)),
      };
    }

    // Warm: a segment encoded above, now in the origin's memory cache and on disk.
    const warmRendition = byName(coldNames[0]!);
    const warmNumber = numbers[0]!;
    const fileName = segmentFileName(plan.segmentTemplate, warmNumber);
    const segmentUrlPath = `${base}/video/${warmRendition.id}/${fileName}`;
    const cachedFile = path.join(cacheDir, hash, 'video', warmRendition.id, fileName);
    const bytes = (await stat(cachedFile)).size;
    const staticServer = await startStatic(cachedFile);
    try {
      const sequential = async (url: string, urlPath: string, label: string) => {
        await sequentialGets(url, urlPath, WARM_WARMUP, bytes);
        const times = await sequentialGets(url, urlPath, WARM_SEQUENTIAL, bytes);
        const result = { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99) };
        log(`  warm ${label}, ${WARM_SEQUENTIAL} sequential: p50 ${formatMs(result.p50Ms)}, p99 ${formatMs(result.p99Ms)}`);
        return result;
      };
      const concurrent = async (url: string, urlPath: string, label: string) => {
        const result = await loadTest(url, urlPath, LOAD_CLIENTS, LOAD_MS, bytes);
        log(
          `  warm ${label}, ${LOAD_CLIENTS} clients: ${Math.round(result.requestsPerSecond)} req/s, p50 ${formatMs(result.p50Ms)}, p99 ${formatMs(result.p99Ms)}` +
            ` (client CPU ${Math.round(result.clientCpuPercent)} %)`,
        );
        return result;
      };
      const jitsegSequential = await sequential(origin.url, segmentUrlPath, 'jitseg');
      const staticSequential = await sequential(staticServer.url, '/', 'static');
      const jitseg: WarmSide = { sequential: jitsegSequential, concurrent: await concurrent(origin.url, segmentUrlPath, 'jitseg') };
      const baseline: WarmSide = { sequential: staticSequential, concurrent: await concurrent(staticServer.url, '/', 'static') };
      return {
        hash,
        segmentCount: info.segments,
        segmentNumbers: numbers,
        cold,
        warm: { renditionId: warmRendition.id, renditionName: warmRendition.name, number: warmNumber, bytes, jitseg, static: baseline },
      };
    } finally {
      await staticServer.stop();
    }
  } finally {
    await client.close();
    await origin.stop();
    await removeTempDir(cacheDir);
    await removeTempDir(workDir);
  }
}

// ---------------------------------------------------------------------------
// Report

async function machineInfo() {
  const firstLine = async (command: string, args: string[]) => {
    try {
      return (await execa(command, args, { all: true })).all?.split('\n')[0]?.trim() ?? '?';
    } catch {
      return '?';
    }
  };
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cores: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? '?',
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ffmpeg: await firstLine('ffmpeg', ['-version']),
    packager: await firstLine(packagerPath(), ['--version']),
    loadAverageAtStart: os.loadavg().map((v) => round(v, 2)),
  };
}

const ms = formatMs;
const ratio = (value: number) => `×${value.toFixed(2)}`;

function report(machine: Awaited<ReturnType<typeof machineInfo>>, manifests: ManifestResult[], segmentRuns: { label: string; results: SegmentResults }[]): string {
  const lines = [
    `## jitseg bench — ${machine.date}`,
    '',
    `${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.platform}; ` +
      `node ${machine.node}; ${machine.ffmpeg.replace(/ Copyright.*/, '')}; ${machine.packager}; load average at start ${machine.loadAverageAtStart.join(' ')}`,
    '',
    `### Manifest latency (GET /vod/…/master.m3u8, median of ${MANIFEST_TRIALS} fresh servers + caches)`,
    '',
    '| Source | Size | Cold (hash + probe + plan) | Warm (2nd request) | Cold min – max |',
    '|---|---:|---:|---:|---:|',
    ...manifests.map(
      (m) =>
        `| ${m.label} | ${(m.sizeBytes / 1e6).toFixed(0)} MB | ${ms(m.coldMedianMs)} | ${ms(m.warmMedianMs)} | ` +
        `${ms(Math.min(...m.coldMs))} – ${ms(Math.max(...m.coldMs))} |`,
    ),
  ];
  for (const { label, results: segments } of segmentRuns) {
  lines.push(
    '',
    `### Segment latency (${label}, ${segments.segmentCount} segments; cold: segments ${segments.segmentNumbers.join(', ')})`,
    '',
    '| Measurement | jitseg | Baseline | jitseg / baseline |',
    '|---|---:|---:|---:|',
  );
  for (const [name, c] of Object.entries(segments.cold)) {
    lines.push(
      `| Cold ${name} segment, p50 (n=${c.samples.length}) | ${ms(c.jitsegP50Ms)} | ${ms(c.bareP50Ms)} bare ffmpeg | ${ratio(c.medianRatio)} (median of per-segment ratios) |`,
      `| Cold ${name} segment, p95 | ${ms(c.jitsegP95Ms)} | ${ms(c.bareP95Ms)} bare ffmpeg | ${ratio(c.jitsegP95Ms / c.bareP95Ms)} |`,
    );
  }
  const { jitseg, static: baseline, bytes } = segments.warm;
  const size = `${(bytes / 1e6).toFixed(2)} MB`;
  lines.push(
    `| Warm ${segments.warm.renditionName} segment (${size}), ${WARM_SEQUENTIAL} sequential, p50 | ${ms(jitseg.sequential.p50Ms)} | ${ms(baseline.sequential.p50Ms)} static | ${ratio(jitseg.sequential.p50Ms / baseline.sequential.p50Ms)} |`,
    `| Warm, ${WARM_SEQUENTIAL} sequential, p99 | ${ms(jitseg.sequential.p99Ms)} | ${ms(baseline.sequential.p99Ms)} static | ${ratio(jitseg.sequential.p99Ms / baseline.sequential.p99Ms)} |`,
    `| Warm, ${LOAD_CLIENTS} clients × ${LOAD_MS / 1000} s, throughput | ${Math.round(jitseg.concurrent.requestsPerSecond)} req/s | ${Math.round(baseline.concurrent.requestsPerSecond)} req/s static | ${ratio(jitseg.concurrent.requestsPerSecond / baseline.concurrent.requestsPerSecond)} |`,
    `| Warm, ${LOAD_CLIENTS} clients, p50 | ${ms(jitseg.concurrent.p50Ms)} | ${ms(baseline.concurrent.p50Ms)} static | ${ratio(jitseg.concurrent.p50Ms / baseline.concurrent.p50Ms)} |`,
    `| Warm, ${LOAD_CLIENTS} clients, p99 | ${ms(jitseg.concurrent.p99Ms)} | ${ms(baseline.concurrent.p99Ms)} static | ${ratio(jitseg.concurrent.p99Ms / baseline.concurrent.p99Ms)} |`,
    '',
    `Load-generator CPU during the ${LOAD_CLIENTS}-client runs: ${Math.round(jitseg.concurrent.clientCpuPercent)} % (jitseg), ` +
      `${Math.round(baseline.concurrent.clientCpuPercent)} % (static) of one core; near 100 % the client, not the server, is the limit.`,
  );
  }
  return lines.join('\n');
}

/** Rounds every number to 3 decimals so the JSON stays readable. */
const tidy = (value: unknown): unknown => JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' ? round(v) : v)));

const log = (message: string) => process.stderr.write(`${message}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  const machine = await machineInfo();
  log('[bench] sources');
  await ensureLongMp4();
  await ensureLongMkv();
  await ensureMain1080p();

  const sources: SourceFile[] = [
    { key: 'mp4_2h', label: '2 h MP4 (320x180)', name: path.basename(await ensureLongMp4()) },
    { key: 'mkv_2h', label: '2 h MKV (same streams)', name: path.basename(await ensureLongMkv()) },
    { key: 'mp4_1080p_30s', label: '30 s 1080p MP4', name: path.basename(await ensureMain1080p()) },
  ];
  const manifests: Record<string, ManifestResult> = {};
  for (const source of sources) {
    log(`[bench] manifest latency: ${source.label}`);
    manifests[source.key] = await measureManifest(source);
  }

  const segmentRuns: { label: string; results: SegmentResults }[] = [];
  for (const source of [sources[2]!, sources[0]!]) {
    log(`[bench] segment latency: ${source.label}`);
    segmentRuns.push({ label: source.label, results: await measureSegments(source.name) });
  }
  const segments = Object.fromEntries(segmentRuns.map((run) => [run.label, run.results]));

  const table = report(machine, Object.values(manifests), segmentRuns);
  const totalSeconds = (performance.now() - started) / 1000;
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(
    RESULTS_FILE,
    `${JSON.stringify(
      tidy({
        machine,
        settings: {
          manifestTrials: MANIFEST_TRIALS,
          coldSegments: COLD_SEGMENTS,
          seed: SEED,
          warmSequential: WARM_SEQUENTIAL,
          loadClients: LOAD_CLIENTS,
          loadMs: LOAD_MS,
          streaming: 'defaultStreamingConfig() with buffer_ahead: 0',
        },
        manifests,
        segments,
        totalSeconds,
      }),
      null,
      2,
    )}\n`,
  );
  console.log(table);
  console.log(`\n(${totalSeconds.toFixed(0)} s; numbers in ${path.relative(process.cwd(), RESULTS_FILE)})`);
}

if (process.argv[2] === '--serve') {
  await serveChild(process.argv.slice(3));
} else {
  exitOnInterrupt();
  try {
    await main();
  } catch (err) {
    log(`[bench] aborted: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
}
