/**
 * Warm segment latency and throughput: one segment already made (in the
 * origin's memory cache and on disk), requested sequentially and by 50
 * concurrent clients, next to a static file server serving the same file
 * (nginx when installed, else node:http), and the origin's peak RSS after.
 * The concurrent runs alternate between the two servers, LOAD_ROUNDS times,
 * and each side reports its median run (by requests per second), so both
 * see the same machine load; each run also reports the server's own CPU per
 * request (from /proc: for nginx its workers), which moves less with the
 * load of other processes than requests per second do.
 */
import path from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import { execa } from 'execa';
import { log, mib, SERVE_SCRIPT, tempDir, track } from '../harness.js';
import { findNginx, formatMs, loadTest, percentile, procCpu, procMemory, sequentialGets, startChildServer, startNginx, type ChildServer, type LoadResult } from '../lib.js';

export const WARM_SEQUENTIAL = 200;
export const WARM_WARMUP = 10;
export const LOAD_CLIENTS = 50;
export const LOAD_MS = 3_000;
/** Alternating concurrent runs per server; the median one is reported. */
export const LOAD_ROUNDS = 3;

type StaticKind = 'nginx' | 'node';

interface StaticBaseline {
  kind: StaticKind;
  /** What it reports in the table, e.g. "nginx 1.22.1". */
  label: string;
  server: ChildServer;
  /** The URL path of the file on it. */
  urlPath: string;
}

interface WarmSide {
  sequential: { p50Ms: number; p99Ms: number };
  /** The median of the concurrent runs (by requests per second). */
  concurrent: LoadResult & { serverCpuMsPerRequest: number };
  /** Every concurrent run, in order. */
  rounds: (LoadResult & { serverCpuMsPerRequest: number })[];
}

export interface WarmResult {
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
  counts: WarmCounts;
}

/** How much to measure (the defaults are the bench's; smaller for a quick run). */
export interface WarmCounts {
  sequential: number;
  clients: number;
  loadMs: number;
}

export const WARM_COUNTS: WarmCounts = { sequential: WARM_SEQUENTIAL, clients: LOAD_CLIENTS, loadMs: LOAD_MS };

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
  const server = track(await startChildServer(SERVE_SCRIPT, ['static', path.join(cacheDir, relativePath)]));
  return { kind: 'node', label: 'node:http + fs.createReadStream', server, urlPath: '/' };
}

/** The segment at `urlPath` on `origin`, stored at `relativeFile` in its `cacheDir`, against the static baseline. */
export async function measureWarm(
  origin: ChildServer,
  cacheDir: string,
  segment: { urlPath: string; relativeFile: string; renditionId: string; renditionName: string; number: number },
  counts: WarmCounts = WARM_COUNTS,
): Promise<WarmResult> {
  const bytes = (await stat(path.join(cacheDir, segment.relativeFile))).size;
  const baselineServer = await startStaticBaseline(cacheDir, segment.relativeFile);
  const staticServer = baselineServer.server;
  log(`  static baseline: ${baselineServer.label}`);
  try {
    const sequential = async (url: string, urlPath: string, label: string) => {
      await sequentialGets(url, urlPath, WARM_WARMUP, bytes);
      const times = await sequentialGets(url, urlPath, counts.sequential, bytes);
      const result = { p50Ms: percentile(times, 50), p99Ms: percentile(times, 99) };
      log(`  warm ${label}, ${counts.sequential} sequential: p50 ${formatMs(result.p50Ms)}, p99 ${formatMs(result.p99Ms)}`);
      return result;
    };
    const serverCpu = async (pids: number[]) => (await Promise.all(pids.map((pid) => procCpu(pid)))).reduce((sum, cpu) => sum + cpu.self, 0);
    const concurrent = async (url: string, urlPath: string, label: string, pids: number[]) => {
      const cpu0 = await serverCpu(pids);
      const result = await loadTest(url, urlPath, counts.clients, counts.loadMs, bytes);
      // loadTest warms up for 500 ms before it counts: that warm-up's CPU is in the figure too (an upper bound).
      const serverCpuMsPerRequest = ((await serverCpu(pids)) - cpu0) * 1000 / result.requests;
      log(
        `  warm ${label}, ${counts.clients} clients: ${Math.round(result.requestsPerSecond)} req/s, p50 ${formatMs(result.p50Ms)}, p99 ${formatMs(result.p99Ms)}` +
          ` (client CPU ${Math.round(result.clientCpuPercent)} %, server CPU ≤ ${serverCpuMsPerRequest.toFixed(3)} ms per request)`,
      );
      return { ...result, serverCpuMsPerRequest };
    };
    const jitsegSequential = await sequential(origin.url, segment.urlPath, 'jitseg');
    const staticSequential = await sequential(staticServer.url, baselineServer.urlPath, 'static');
    const staticPids = baselineServer.kind === 'nginx' ? await nginxWorkers(staticServer.pid) : [staticServer.pid];
    const jitsegRounds: WarmSide['rounds'] = [];
    const staticRounds: WarmSide['rounds'] = [];
    for (let round = 0; round < LOAD_ROUNDS; round++) {
      jitsegRounds.push(await concurrent(origin.url, segment.urlPath, 'jitseg', [origin.pid]));
      staticRounds.push(await concurrent(staticServer.url, baselineServer.urlPath, 'static', staticPids));
    }
    const jitseg: WarmSide = { sequential: jitsegSequential, concurrent: medianRun(jitsegRounds), rounds: jitsegRounds };
    const originMemory = await procMemory(origin.pid);
    log(`  origin peak RSS (VmHWM) after the ${counts.clients}-client runs: ${mib(originMemory.peakRssBytes)} (now ${mib(originMemory.rssBytes)})`);
    const baseline: WarmSide = { sequential: staticSequential, concurrent: medianRun(staticRounds), rounds: staticRounds };
    return {
      renditionId: segment.renditionId,
      renditionName: segment.renditionName,
      number: segment.number,
      bytes,
      jitseg,
      static: baseline,
      staticKind: baselineServer.kind,
      staticLabel: baselineServer.label,
      originMemory,
      counts,
    };
  } finally {
    await staticServer.stop();
  }
}

/** The run with the median requests per second. */
function medianRun<T extends LoadResult>(runs: T[]): T {
  return [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(runs.length / 2)]!;
}

/** nginx's worker processes (the children of its master): where its requests are served. */
async function nginxWorkers(master: number): Promise<number[]> {
  const children = (await readFile(`/proc/${master}/task/${master}/children`, 'utf8')).trim();
  return children === '' ? [master] : children.split(/\s+/).map(Number);
}
