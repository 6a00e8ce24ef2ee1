/**
 * jitseg bench:  npm run bench   (see bench/README.md; about 5 minutes on 2 cores)
 *
 *   1. cold/warm manifest latency (first /vod/…/master.m3u8 on a fresh server
 *      and cache) for a 2-hour MP4, the same content as MKV, and a 30 s 1080p
 *      MP4; and the 2-hour MP4's on a running server (new content, warm JIT);
 *   2. time to first segment of content never seen before, per rendition, as
 *      a player starting playback sees it (master → playlists → init + first
 *      segment of the video rendition and of the audio);
 *   3. cold segment latency (720p, 1080p) next to the bare ffmpeg command the
 *      origin runs for the same span;
 *   4. warm segment latency and throughput next to a static file server
 *      (nginx when installed, else node), and the origin's peak RSS;
 *   5. the CPU time of encoding one whole rendition segment by segment next
 *      to one ffmpeg pass over the whole file with the same settings;
 *   6. a line comparing all this with the targets.
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
import { Pool } from 'undici';
import {
  connect,
  findNginx,
  formatMs,
  getJson,
  killChildServers,
  loadTest,
  median,
  percentile,
  pickDistinct,
  procCpu,
  procMemory,
  round,
  seededRandom,
  sequentialGets,
  serveUntilStopped,
  startChildServer,
  startNginx,
  timedRequest,
  type ChildServer,
  type LoadResult,
} from './lib.js';
import { measureCacheAndCoordination, reportCacheAndCoordination, type CacheCoordinationResults } from './cache-coordination.js';
import { measureEdge, reportEdge, type EdgeResults } from './edge.js';
import { BENCH_DIR, ensureLong30MinMp4, ensureLongMkv, ensureLongMp4, ensureMain1080p } from './sources.js';

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
/** Fresh servers per rendition for the time to first segment. */
const TTFS_TRIALS = 3;
/** Connections of the simulated player (browsers open up to 6 per host). */
const PLAYER_CONNECTIONS = 6;
/** Full-file JIT CPU: this rendition of the 30 s 1080p source, this many (JIT, one-pass) pairs. */
const FULL_FILE_RENDITION = '720p';
const FULL_FILE_PAIRS = 3;

/** What the project aims at on the 2-core reference machine (the "targets" line). */
const TARGETS = {
  coldManifestMs: 20,
  coldSegmentRatio: 1.1,
  warmThroughputRatio: 0.6,
  fullFileCpuRatio: 1.15,
};

/**
 * The origin's defaults with prefetch off: a background encode started by
 * one request would overlap the next measurement (or the bare ffmpeg run) on
 * this 2-core machine. Prefetch is measured on its own (cache-coordination.ts).
 */
const benchStreamingConfig = (): StreamingConfig => ({
  ...defaultStreamingConfig(),
  buffer_ahead: 0,
  prefetch: { ...defaultStreamingConfig().prefetch, enabled: false },
});

// ---------------------------------------------------------------------------
// Child mode: one server per process

async function serveChild(args: string[]): Promise<void> {
  const [kind, ...rest] = args;
  if (kind === 'origin') {
    const [mediaDir, cacheDir] = rest as [string, string];
    const { startServer } = await import('../src/server.js');
    const { silentLogger } = await import('../src/observe/log.js');
    const server = await startServer({ mediaDir, cacheDir, port: 0, host: '127.0.0.1', streaming: benchStreamingConfig() }, { logger: silentLogger() });
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
const startNodeStatic = async (file: string): Promise<ChildServer> => track(await startChildServer(SELF, ['--serve', 'static', file]));

type StaticKind = 'nginx' | 'node';

interface StaticBaseline {
  kind: StaticKind;
  /** What it reports in the table, e.g. "nginx 1.22.1". */
  label: string;
  server: ChildServer;
  /** The URL path of the file on it. */
  urlPath: string;
}

let nginxBroken = false;

/**
 * The static baseline for a file in the origin's cache dir: nginx serving the
 * cache dir (when installed: `nginx` on the PATH or $JITSEG_BENCH_NGINX), else
 * a node:http server that streams that one file.
 */
async function startStaticBaseline(cacheDir: string, relativePath: string): Promise<StaticBaseline> {
  const nginx = nginxBroken ? undefined : await findNginx();
  if (nginx) {
    const workDir = await tempDir('jitseg-bench-nginx-');
    try {
      const server = track(await startNginx(nginx, cacheDir, workDir));
      const version = (await execa(nginx, ['-v'], { all: true, reject: false })).all?.trim().replace(/^nginx version: /, '') ?? 'nginx';
      return { kind: 'nginx', label: `${version} (1 worker, sendfile)`, server, urlPath: `/${relativePath}` };
    } catch (err) {
      nginxBroken = true;
      log(`  nginx (${nginx}) could not start, using the node static server instead: ${(err as Error).message}`);
    }
  }
  const server = await startNodeStatic(path.join(cacheDir, relativePath));
  return { kind: 'node', label: 'node:http + fs.createReadStream', server, urlPath: '/' };
}

function track(server: ChildServer): ChildServer {
  servers.add(server);
  return {
    url: server.url,
    pid: server.pid,
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
  /** Set for "running server" trials: the content whose cold manifest each fresh server served first. */
  afterWarmUp?: string;
  sizeBytes: number;
  coldMs: number[];
  warmMs: number[];
  coldMedianMs: number;
  warmMedianMs: number;
}

const vodPath = (name: string) => `/vod/${encodeURIComponent(name)}/master.m3u8`;

/**
 * Cold and warm manifest latency, each trial on a fresh server and cache.
 * With `warmUp`, each fresh server first serves the (cold) manifest of that
 * other source: the measured request is then new content on a running
 * server, whose code V8 has already compiled and optimised.
 */
async function measureManifest(source: SourceFile, warmUp?: SourceFile): Promise<ManifestResult> {
  const coldMs: number[] = [];
  const warmMs: number[] = [];
  for (let trial = 0; trial < MANIFEST_TRIALS; trial++) {
    const cacheDir = await tempDir('jitseg-bench-cache-');
    const server = await startOrigin(cacheDir);
    const client = connect(server.url);
    try {
      if (warmUp) await timedRequest(client, vodPath(warmUp.name));
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
    ...(warmUp ? { afterWarmUp: warmUp.name } : {}),
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
  warm: {
    renditionId: string;
    renditionName: string;
    number: number;
    bytes: number;
    jitseg: WarmSide;
    static: WarmSide;
    staticKind: StaticKind;
    staticLabel: string;
    /** The origin process (node; not its ffmpeg/packager children) after the 50-client run. */
    originMemory: { peakRssBytes: number; rssBytes: number };
  };
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
    const relativeFile = [hash, 'video', warmRendition.id, fileName].join('/');
    const bytes = (await stat(path.join(cacheDir, relativeFile))).size;
    const baselineServer = await startStaticBaseline(cacheDir, relativeFile);
    const staticServer = baselineServer.server;
    log(`  static baseline: ${baselineServer.label}`);
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
      const staticSequential = await sequential(staticServer.url, baselineServer.urlPath, 'static');
      const jitseg: WarmSide = { sequential: jitsegSequential, concurrent: await concurrent(origin.url, segmentUrlPath, 'jitseg') };
      const originMemory = await procMemory(origin.pid);
      log(`  origin peak RSS (VmHWM) after the ${LOAD_CLIENTS}-client run: ${mib(originMemory.peakRssBytes)} (now ${mib(originMemory.rssBytes)})`);
      const baseline: WarmSide = { sequential: staticSequential, concurrent: await concurrent(staticServer.url, baselineServer.urlPath, 'static') };
      return {
        hash,
        segmentCount: info.segments,
        segmentNumbers: numbers,
        cold,
        warm: {
          renditionId: warmRendition.id,
          renditionName: warmRendition.name,
          number: warmNumber,
          bytes,
          jitseg,
          static: baseline,
          staticKind: baselineServer.kind,
          staticLabel: baselineServer.label,
          originMemory,
        },
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
// Time to first segment of new content, as a player starting playback sees it

interface TtfsSample {
  /** The master playlist (hash + probe + plan on this first request). */
  manifestMs: number;
  /** From the master request until init.mp4 and segment_1.m4s of the video rendition are in. */
  videoMs: number;
  /** The same for the default audio rendition (0 without audio). */
  audioMs: number;
  /** Until both are in: when playback can start. */
  totalMs: number;
}

interface TtfsResult {
  source: string;
  rendition: string;
  samples: TtfsSample[];
  medianTotalMs: number;
  medianManifestMs: number;
  medianVideoMs: number;
  medianAudioMs: number;
}

const resolveUri = (base: string, uri: string) => (uri.startsWith('/') ? uri : base.slice(0, base.lastIndexOf('/') + 1) + uri);

/**
 * One player start on a fresh server and cache: GET the master playlist,
 * then, in parallel as hls.js does, for the video rendition and for the
 * default audio: media playlist → init.mp4 → first segment, over a pool of
 * keep-alive connections.
 */
async function playerStart(url: string, sourceName: string, renditionName: string): Promise<TtfsSample> {
  const pool = new Pool(url, { connections: PLAYER_CONNECTIONS, keepAliveTimeout: 30_000 });
  try {
    const t0 = performance.now();
    const masterPath = vodPath(sourceName);
    const master = await timedRequest(pool, masterPath);
    const lines = master.body.toString('utf8').split('\n');
    const variant = lines.find((l) => !l.startsWith('#') && l.includes(`/video/${renditionName}-`));
    if (!variant) throw new Error(`${sourceName}: no ${renditionName} variant in the master playlist`);
    const audioUri = lines
      .filter((l) => l.startsWith('#EXT-X-MEDIA:TYPE=AUDIO'))
      .sort((a, b) => Number(b.includes('DEFAULT=YES')) - Number(a.includes('DEFAULT=YES')))
      .map((l) => /URI="([^"]+)"/.exec(l)?.[1])[0];
    const track = async (playlistUri: string) => {
      const playlistPath = resolveUri(masterPath, playlistUri);
      const playlist = (await timedRequest(pool, playlistPath)).body.toString('utf8');
      const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)?.[1];
      const first = playlist.split('\n').find((l) => l.length > 0 && !l.startsWith('#'));
      if (!init || !first) throw new Error(`${playlistPath}: no EXT-X-MAP or no segment`);
      await timedRequest(pool, resolveUri(playlistPath, init));
      await timedRequest(pool, resolveUri(playlistPath, first));
      return performance.now() - t0;
    };
    const [videoMs, audioMs] = await Promise.all([track(variant), audioUri ? track(audioUri) : Promise.resolve(0)]);
    return { manifestMs: master.ms, videoMs, audioMs, totalMs: Math.max(videoMs, audioMs) };
  } finally {
    await pool.close();
  }
}

/** Time to first segment per rendition, each trial on a fresh server and cache; renditions take turns. */
async function measureTtfs(source: SourceFile): Promise<TtfsResult[]> {
  const plan = makePlan(await probeSource(path.join(BENCH_DIR, source.name)), benchStreamingConfig());
  const names = plan.renditions.map((r) => r.name);
  const samples = new Map<string, TtfsSample[]>(names.map((n) => [n, []]));
  for (let trial = 0; trial < TTFS_TRIALS; trial++) {
    for (const name of names) {
      const cacheDir = await tempDir('jitseg-bench-cache-');
      const server = await startOrigin(cacheDir);
      try {
        const sample = await playerStart(server.url, source.name, name);
        samples.get(name)!.push(sample);
        log(
          `  ${source.label} ${name} trial ${trial + 1}: first segment after ${formatMs(sample.totalMs)} ` +
            `(master ${formatMs(sample.manifestMs)}, video ${formatMs(sample.videoMs)}, audio ${formatMs(sample.audioMs)})`,
        );
      } finally {
        await server.stop();
        await removeTempDir(cacheDir);
      }
    }
  }
  return names.map((name) => {
    const list = samples.get(name)!;
    return {
      source: source.label,
      rendition: name,
      samples: list,
      medianTotalMs: median(list.map((s) => s.totalMs)),
      medianManifestMs: median(list.map((s) => s.manifestMs)),
      medianVideoMs: median(list.map((s) => s.videoMs)),
      medianAudioMs: median(list.map((s) => s.audioMs)),
    };
  });
}

// ---------------------------------------------------------------------------
// Full-file JIT cost: CPU of encoding a whole rendition segment by segment

interface CpuRun {
  cpuSeconds: number;
  wallMs: number;
}

interface FullFileResult {
  source: string;
  rendition: string;
  renditionId: string;
  segments: number;
  /** The one-pass command (its arguments; the source path and output are the bench's). */
  onePassArgs: string[];
  pairs: { jit: CpuRun; onePass: CpuRun; ratio: number }[];
  medianJitCpuSeconds: number;
  medianOnePassCpuSeconds: number;
  medianRatio: number;
}

/**
 * The origin's command line for the rendition without the trim and the seek:
 * one ffmpeg pass over the whole file with the same filters and x264 options.
 */
function onePassArgs(sourcePath: string, plan: Plan, renditionName: string, outputPath: string): string[] {
  const rendition = plan.renditions.find((r) => r.name === renditionName)!;
  // Segment 1's command has no seek; drop its trim from the filter chain.
  const args = videoEncodeArgs(sourcePath, plan, rendition, plan.videoSegments[0]!, outputPath);
  const vf = args.indexOf('-vf');
  args[vf + 1] = args[vf + 1]!.split(',').filter((f) => !f.startsWith('trim=')).join(',');
  if (args.includes('-ss') || args[vf + 1]!.includes('trim')) throw new Error(`the one-pass command still seeks or trims: ${args.join(' ')}`);
  return args;
}

/**
 * CPU time (user + sys, children included) the origin spends on GETting every
 * segment of one rendition in order, on a fresh server and cache (measured
 * from /proc/<pid>/stat around the requests, after registration), next to
 * the CPU time of one ffmpeg pass over the whole file (this process's cutime
 * + cstime around it). Pairs alternate which runs first.
 */
async function measureFullFile(source: SourceFile, renditionName: string): Promise<FullFileResult> {
  const sourcePath = path.join(BENCH_DIR, source.name);
  const plan = makePlan(await probeSource(sourcePath), benchStreamingConfig());
  const rendition = plan.renditions.find((r) => r.name === renditionName);
  if (!rendition) throw new Error(`${source.name} has no ${renditionName} rendition`);
  const segments = plan.videoSegments.length;

  const jit = async (): Promise<CpuRun> => {
    const cacheDir = await tempDir('jitseg-bench-cache-');
    const origin = await startOrigin(cacheDir);
    const client = connect(origin.url);
    try {
      const { hash } = await getJson<{ hash: string }>(client, '/api/v1/content', { method: 'POST', json: { path: source.name }, expectStatus: 201 });
      const info = await getJson<Info>(client, `/api/v1/content/${hash}/info`);
      if (!info.renditions.some((r) => r.id === rendition.id) || info.segments !== segments) {
        throw new Error('the local plan does not match the server (rendition id or segment count differ)');
      }
      const cpu0 = await procCpu(origin.pid);
      const t0 = performance.now();
      for (let number = 1; number <= segments; number++) {
        await timedRequest(client, `/api/v1/content/${hash}/video/${rendition.id}/${segmentFileName(plan.segmentTemplate, number)}`);
      }
      const wallMs = performance.now() - t0;
      const cpu1 = await procCpu(origin.pid);
      return { cpuSeconds: cpu1.total - cpu0.total, wallMs };
    } finally {
      await client.close();
      await origin.stop();
      await removeTempDir(cacheDir);
    }
  };

  const workDir = await tempDir('jitseg-bench-onepass-');
  const args = onePassArgs(sourcePath, plan, renditionName, path.join(workDir, 'whole.ts'));
  const onePass = async (): Promise<CpuRun> => {
    // This process's only child while it runs, so the cutime/cstime delta is ffmpeg's CPU.
    const cpu0 = await procCpu('self');
    const t0 = performance.now();
    await execa('ffmpeg', args, { stdin: 'ignore' });
    const wallMs = performance.now() - t0;
    const cpu1 = await procCpu('self');
    await rm(path.join(workDir, 'whole.ts'), { force: true });
    return { cpuSeconds: cpu1.children - cpu0.children, wallMs };
  };

  const pairs: FullFileResult['pairs'] = [];
  try {
    for (let k = 0; k < FULL_FILE_PAIRS; k++) {
      let a: CpuRun;
      let b: CpuRun;
      if (k % 2 === 0) {
        a = await jit();
        b = await onePass();
      } else {
        b = await onePass();
        a = await jit();
      }
      pairs.push({ jit: a, onePass: b, ratio: a.cpuSeconds / b.cpuSeconds });
      log(
        `  ${renditionName}, ${segments} segments: jitseg ${seconds(a.cpuSeconds)} CPU (${seconds(a.wallMs / 1000)} wall), ` +
          `one pass ${seconds(b.cpuSeconds)} CPU (${seconds(b.wallMs / 1000)} wall), ×${(a.cpuSeconds / b.cpuSeconds).toFixed(2)}`,
      );
    }
  } finally {
    await removeTempDir(workDir);
  }
  return {
    source: source.label,
    rendition: renditionName,
    renditionId: rendition.id,
    segments,
    onePassArgs: args.map((a) => (a === sourcePath ? '<source>' : a.startsWith(workDir) ? '<output>' : a)),
    pairs,
    medianJitCpuSeconds: median(pairs.map((p) => p.jit.cpuSeconds)),
    medianOnePassCpuSeconds: median(pairs.map((p) => p.onePass.cpuSeconds)),
    medianRatio: median(pairs.map((p) => p.ratio)),
  };
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
const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
const seconds = (value: number) => `${value.toFixed(1)} s`;

interface Results {
  machine: Awaited<ReturnType<typeof machineInfo>>;
  manifests: Record<string, ManifestResult>;
  ttfs: TtfsResult[];
  segmentRuns: { label: string; results: SegmentResults }[];
  fullFile: FullFileResult;
  cacheCoordination: CacheCoordinationResults;
  edge: EdgeResults;
}

const mark = (met: boolean) => (met ? 'met' : '**not met**');

/** The targets line: each target, what this run measured, and whether it is met. */
function targets(r: Results): { target: string; measured: string; met: boolean }[] {
  const cold = r.manifests.mp4_2h!;
  const running = r.manifests.mp4_2h_running!;
  const main = r.segmentRuns[0]!.results;
  const coldRatios = Object.entries(main.cold).map(([name, c]) => `${ratio(c.medianRatio)} ${name}`);
  const worstCold = Math.max(...Object.values(main.cold).map((c) => c.medianRatio));
  const throughput = main.warm.jitseg.concurrent.requestsPerSecond / main.warm.static.concurrent.requestsPerSecond;
  return [
    {
      target: `cold manifest, 2 h MP4 < ${TARGETS.coldManifestMs} ms`,
      measured: `${ms(cold.coldMedianMs)} first request after a start; ${ms(running.coldMedianMs)} on a running server`,
      met: cold.coldMedianMs < TARGETS.coldManifestMs && running.coldMedianMs < TARGETS.coldManifestMs,
    },
    {
      target: `cold segment ≤ ${TARGETS.coldSegmentRatio}× bare ffmpeg`,
      measured: `${coldRatios.join(', ')} (30 s 1080p source, median of per-segment ratios)`,
      met: worstCold <= TARGETS.coldSegmentRatio,
    },
    {
      target: `warm throughput ≥ ${TARGETS.warmThroughputRatio}× the static server's`,
      measured: `${ratio(throughput)} (${Math.round(main.warm.jitseg.concurrent.requestsPerSecond)} vs ${Math.round(main.warm.static.concurrent.requestsPerSecond)} req/s, ${main.warm.staticKind})`,
      met: throughput >= TARGETS.warmThroughputRatio,
    },
    {
      target: `full-file JIT CPU ≤ ${TARGETS.fullFileCpuRatio}× one pass`,
      measured: `${ratio(r.fullFile.medianRatio)} (${r.fullFile.rendition}, ${seconds(r.fullFile.medianJitCpuSeconds)} vs ${seconds(r.fullFile.medianOnePassCpuSeconds)} CPU)`,
      met: r.fullFile.medianRatio <= TARGETS.fullFileCpuRatio,
    },
  ];
}

function report(r: Results): string {
  const { machine, ttfs, segmentRuns, fullFile } = r;
  const manifests = Object.values(r.manifests);
  const lines = [
    `## jitseg bench — ${machine.date}`,
    '',
    `${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.platform}; ` +
      `node ${machine.node}; ${machine.ffmpeg.replace(/ Copyright.*/, '')}; ${machine.packager}; load average at start ${machine.loadAverageAtStart.join(' ')}`,
    '',
    '### Targets (2 cores)',
    '',
    '| Target | This run | |',
    '|---|---|---|',
    ...targets(r).map((t) => `| ${t.target} | ${t.measured} | ${mark(t.met)} |`),
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
    '',
    '"Running server": each fresh server first served the cold manifest of another long MP4 (30 min), so the',
    'request for the 2 h MP4 is new content on a server that has run (and V8 optimised) the probe once before.',
    '',
    `### Time to first segment, content never seen before (median of ${TTFS_TRIALS} fresh servers + caches per rendition)`,
    '',
    'A player starting playback: master playlist, then in parallel for the rendition and the default audio:',
    `media playlist → init.mp4 → segment_1.m4s (${PLAYER_CONNECTIONS} keep-alive connections).`,
    '',
    '| Source | Rendition | First segment (video + audio in) | Master playlist | Video in | Audio in |',
    '|---|---|---:|---:|---:|---:|',
    ...ttfs.map(
      (t) => `| ${t.source} | ${t.rendition} | ${ms(t.medianTotalMs)} | ${ms(t.medianManifestMs)} | ${ms(t.medianVideoMs)} | ${ms(t.medianAudioMs)} |`,
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
    const { jitseg, static: baseline, bytes, staticKind } = segments.warm;
    const size = `${(bytes / 1e6).toFixed(2)} MB`;
    lines.push(
      `| Warm ${segments.warm.renditionName} segment (${size}), ${WARM_SEQUENTIAL} sequential, p50 | ${ms(jitseg.sequential.p50Ms)} | ${ms(baseline.sequential.p50Ms)} ${staticKind} | ${ratio(jitseg.sequential.p50Ms / baseline.sequential.p50Ms)} |`,
      `| Warm, ${WARM_SEQUENTIAL} sequential, p99 | ${ms(jitseg.sequential.p99Ms)} | ${ms(baseline.sequential.p99Ms)} ${staticKind} | ${ratio(jitseg.sequential.p99Ms / baseline.sequential.p99Ms)} |`,
      `| Warm, ${LOAD_CLIENTS} clients × ${LOAD_MS / 1000} s, throughput | ${Math.round(jitseg.concurrent.requestsPerSecond)} req/s | ${Math.round(baseline.concurrent.requestsPerSecond)} req/s ${staticKind} | ${ratio(jitseg.concurrent.requestsPerSecond / baseline.concurrent.requestsPerSecond)} |`,
      `| Warm, ${LOAD_CLIENTS} clients, p50 | ${ms(jitseg.concurrent.p50Ms)} | ${ms(baseline.concurrent.p50Ms)} ${staticKind} | ${ratio(jitseg.concurrent.p50Ms / baseline.concurrent.p50Ms)} |`,
      `| Warm, ${LOAD_CLIENTS} clients, p99 | ${ms(jitseg.concurrent.p99Ms)} | ${ms(baseline.concurrent.p99Ms)} ${staticKind} | ${ratio(jitseg.concurrent.p99Ms / baseline.concurrent.p99Ms)} |`,
      `| Origin peak RSS (VmHWM) after the ${LOAD_CLIENTS}-client run | ${mib(segments.warm.originMemory.peakRssBytes)} | — | — |`,
      '',
      `Static baseline: ${segments.warm.staticLabel}. Load-generator CPU during the ${LOAD_CLIENTS}-client runs: ${Math.round(jitseg.concurrent.clientCpuPercent)} % (jitseg), ` +
        `${Math.round(baseline.concurrent.clientCpuPercent)} % (static) of one core; near 100 % the client, not the server, is the limit.`,
    );
  }
  lines.push(
    '',
    `### Full-file JIT cost (${fullFile.source}, ${fullFile.rendition}: all ${fullFile.segments} segments requested in order, median of ${fullFile.pairs.length} pairs)`,
    '',
    '| Measurement | jitseg | One ffmpeg pass | jitseg / one pass |',
    '|---|---:|---:|---:|',
    `| CPU time (user + sys, children included) | ${seconds(fullFile.medianJitCpuSeconds)} | ${seconds(fullFile.medianOnePassCpuSeconds)} | ${ratio(fullFile.medianRatio)} (median of per-pair ratios) |`,
    `| Wall time | ${seconds(median(fullFile.pairs.map((p) => p.jit.wallMs)) / 1000)} | ${seconds(median(fullFile.pairs.map((p) => p.onePass.wallMs)) / 1000)} | ${ratio(median(fullFile.pairs.map((p) => p.jit.wallMs / p.onePass.wallMs)))} |`,
    '',
    'One pass: the origin\'s ffmpeg command for the rendition without the trim and the seek (same filters and x264 options).',
    ...reportCacheAndCoordination(r.cacheCoordination),
    ...reportEdge(r.edge),
  );
  return lines.join('\n');
}

/** Rounds every number to 3 decimals so the JSON stays readable. */
const tidy = (value: unknown): unknown => JSON.parse(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' ? round(v) : v)));

const log = (message: string) => process.stderr.write(`${message}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  const machine = await machineInfo();
  log('[bench] sources');
  const sources: SourceFile[] = [
    { key: 'mp4_2h', label: '2 h MP4 (320x180)', name: path.basename(await ensureLongMp4()) },
    { key: 'mkv_2h', label: '2 h MKV (same streams)', name: path.basename(await ensureLongMkv()) },
    { key: 'mp4_1080p_30s', label: '30 s 1080p MP4', name: path.basename(await ensureMain1080p()) },
  ];
  const [long, , main1080p] = sources as [SourceFile, SourceFile, SourceFile];
  const warmUp: SourceFile = { key: 'mp4_30min', label: '30 min MP4', name: path.basename(await ensureLong30MinMp4()) };

  const manifests: Record<string, ManifestResult> = {};
  for (const source of sources) {
    log(`[bench] manifest latency: ${source.label}`);
    manifests[source.key] = await measureManifest(source);
  }
  log(`[bench] manifest latency: ${long.label} on a running server (after ${warmUp.label})`);
  manifests.mp4_2h_running = { ...(await measureManifest(long, warmUp)), label: `${long.label}, on a running server` };

  const ttfs: TtfsResult[] = [];
  for (const source of [main1080p, long]) {
    log(`[bench] time to first segment: ${source.label}`);
    ttfs.push(...(await measureTtfs(source)));
  }

  const segmentRuns: { label: string; results: SegmentResults }[] = [];
  for (const source of [main1080p, long]) {
    log(`[bench] segment latency: ${source.label}`);
    segmentRuns.push({ label: source.label, results: await measureSegments(source.name) });
  }
  const segments = Object.fromEntries(segmentRuns.map((run) => [run.label, run.results]));

  log(`[bench] full-file JIT CPU: ${main1080p.label}, ${FULL_FILE_RENDITION}`);
  const fullFile = await measureFullFile(main1080p, FULL_FILE_RENDITION);

  const cacheCoordination = await measureCacheAndCoordination();
  log('[bench] warm throughput through the edge');
  const edge = await measureEdge();

  const results: Results = { machine, manifests, ttfs, segmentRuns, fullFile, cacheCoordination, edge };
  const table = report(results);
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
          ttfsTrials: TTFS_TRIALS,
          playerConnections: PLAYER_CONNECTIONS,
          fullFilePairs: FULL_FILE_PAIRS,
          streaming: 'defaultStreamingConfig() with buffer_ahead: 0',
        },
        targets: targets(results),
        manifests,
        ttfs,
        segments,
        fullFile,
        cacheCoordination,
        edge,
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
