/**
 * Bench helpers: statistics, a seeded PRNG, servers in child processes (and
 * nginx), CPU and memory of a process from /proc, and timed HTTP requests
 * with undici.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Client, Pool, request, type Dispatcher } from 'undici';

const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------------------
// Statistics

/** Median (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Nearest-rank percentile (p in 0–100): the smallest sample with at least p %
 * of the samples at or below it. With 6 samples p95 is the maximum.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[Math.min(rank, s.length) - 1]!;
}

/** mulberry32: tiny, seedable, good enough to pick sample segments reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` distinct integers from [1, max] (all of them if max ≤ count), in draw order. */
export function pickDistinct(random: () => number, max: number, count: number): number[] {
  const pool = Array.from({ length: max }, (_, i) => i + 1);
  // Partial Fisher–Yates: the first `count` slots end up a uniform sample.
  for (let i = 0; i < Math.min(count, max); i++) {
    const j = i + Math.floor(random() * (max - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, Math.min(count, max));
}

export function formatMs(ms: number): string {
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms)} ms`;
}

export const round = (value: number, digits = 3): number => Math.round(value * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------------------
// Servers in child processes
//
// Each server under test runs in its own Node process so that the load
// generator (this process) and the server do not share one event loop: on a
// 2-core machine that would charge the client's work to the server. A fresh
// process per cold measurement also makes "cold" include a cold JIT, like the
// first request after a deploy.

/** Printed by a child server on stdout once it listens. */
export const READY_MARKER = 'JITSEG_BENCH_READY ';

export interface ChildServer {
  url: string;
  /** The server's process (the process whose CPU and memory /proc reports below are about). */
  pid: number;
  stop(): Promise<void>;
}

/** Every server process still running, with the signal that stops it at once on abort. */
const running = new Map<ChildProcess, NodeJS.Signals>();

/**
 * Starts `script` again with the same Node flags this process runs with (tsx's
 * loader included) and the given arguments, and waits for its ready line.
 */
export async function startChildServer(script: string, args: readonly string[], startTimeoutMs = 60_000): Promise<ChildServer> {
  // stdin is a pipe the child watches: if this process dies, the pipe closes and the child exits.
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  running.set(child, 'SIGKILL');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));

  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`child server (${args.join(' ')}) did not start within ${startTimeoutMs} ms`)), startTimeoutMs);
    lines.on('line', (line) => {
      if (!line.startsWith(READY_MARKER)) return;
      clearTimeout(timer);
      resolve(line.slice(READY_MARKER.length).trim());
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`child server (${args.join(' ')}) exited before it was ready (code ${code}, signal ${signal})`));
    });
  });
  // Keep draining stdout so the child never blocks on a full pipe.
  child.stdout!.resume();

  return { url, pid: child.pid!, stop: () => stopChild(child, exited, 'SIGTERM') };
}

async function stopChild(child: ChildProcess, exited: Promise<void>, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Kills every child server still running (used on abort). */
export function killChildServers(): void {
  for (const [child, signal] of running) child.kill(signal);
}

/** Child side: announce readiness, and shut down on SIGTERM or when the parent goes away. */
export function serveUntilStopped(url: string, close: () => Promise<void>): void {
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    // A stuck close (a client holding a connection) must not keep the process alive.
    setTimeout(() => process.exit(0), 2_000).unref();
    close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', shutdown);
  process.stdin.on('end', shutdown).on('close', shutdown).resume();
  process.stdout.write(`${READY_MARKER}${url}\n`);
}

// ---------------------------------------------------------------------------
// nginx as the static baseline

/** The nginx binary to use as the static baseline: $JITSEG_BENCH_NGINX, else `nginx` on the PATH, else none. */
export async function findNginx(): Promise<string | undefined> {
  const candidates = [process.env.JITSEG_BENCH_NGINX, ...(process.env.PATH ?? '').split(':').filter(Boolean).map((dir) => path.join(dir, 'nginx'))];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not there
    }
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * nginx serving `root` on a loopback port: one worker (one process, like
 * every other server under test), sendfile on, keep-alive, no access log.
 * Its config, pid file, logs and temp dirs live in `workDir`.
 */
export async function startNginx(binary: string, root: string, workDir: string): Promise<ChildServer> {
  const port = await freePort();
  const conf = path.join(workDir, 'nginx.conf');
  const temp = (name: string) => path.join(workDir, name);
  await writeFile(
    conf,
    [
      'daemon off;',
      'worker_processes 1;',
      // Workers of a root master switch to an unprivileged user, who cannot read a 0700 temp cache dir.
      ...(process.getuid?.() === 0 ? ['user root root;'] : []),
      `pid ${temp('nginx.pid')};`,
      `error_log ${temp('error.log')} warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      '  sendfile on;',
      '  tcp_nopush on;',
      '  tcp_nodelay on;',
      '  keepalive_timeout 60s;',
      '  keepalive_requests 1000000;',
      '  types { video/mp4 mp4 m4s; }',
      '  default_type application/octet-stream;',
      `  client_body_temp_path ${temp('client_body')};`,
      `  proxy_temp_path ${temp('proxy')};`,
      `  fastcgi_temp_path ${temp('fastcgi')};`,
      `  uwsgi_temp_path ${temp('uwsgi')};`,
      `  scgi_temp_path ${temp('scgi')};`,
      `  server { listen 127.0.0.1:${port}; root ${root}; location / { } }`,
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(binary, ['-p', workDir, '-e', temp('error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  // SIGTERM, not SIGKILL, on abort: the master then stops its worker, which SIGKILL would orphan.
  running.set(child, 'SIGTERM');
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => running.delete(child));
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await readFile(temp('error.log'), 'utf8').catch(() => '');
      throw new Error(`nginx exited before it was ready: ${(stderr + log).trim().split('\n').slice(-3).join(' | ')}`);
    }
    try {
      const res = await request(`${url}/`, { method: 'HEAD' });
      await res.body.dump();
      break;
    } catch {
      if (performance.now() > deadline) {
        await stopChild(child, exited, 'SIGKILL');
        throw new Error('nginx did not answer within 10 s');
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  // SIGTERM: nginx's fast shutdown (the master stops its worker and removes its pid file).
  return { url, pid: child.pid!, stop: () => stopChild(child, exited, 'SIGTERM') };
}

// ---------------------------------------------------------------------------
// /proc: CPU time and memory of a process

let clockTicks: number | undefined;

/** Kernel clock ticks per second (the unit of /proc/<pid>/stat times). */
async function ticksPerSecond(): Promise<number> {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number((await execFileAsync('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

export interface ProcCpu {
  /** utime + stime: the process's own CPU, seconds. */
  self: number;
  /** cutime + cstime: CPU of its children that it has waited for (exited ones only), seconds. */
  children: number;
  total: number;
}

/** CPU time of a process (`self` for this one) from /proc/<pid>/stat. */
export async function procCpu(pid: number | 'self'): Promise<ProcCpu> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) in parentheses: state is field 3, utime 14 … cstime 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number) as [number, number, number, number];
  const hz = await ticksPerSecond();
  const self = (utime + stime) / hz;
  const children = (cutime + cstime) / hz;
  return { self, children, total: self + children };
}

/** VmHWM (peak resident set) and VmRSS of a process, bytes, from /proc/<pid>/status. */
export async function procMemory(pid: number): Promise<{ peakRssBytes: number; rssBytes: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { peakRssBytes: kib('VmHWM'), rssBytes: kib('VmRSS') };
}

// ---------------------------------------------------------------------------
// HTTP

export class HttpError extends Error {
  override name = 'HttpError';
}

export interface TimedResponse {
  ms: number;
  bytes: number;
  body: Buffer;
}

/** One keep-alive connection, for sequential measurements. */
export const connect = (url: string): Client => new Client(url, { keepAliveTimeout: 30_000 });

/**
 * A request timed from send to the last body byte. Any status other than
 * `expectStatus` aborts the bench: a failing endpoint has no latency worth reporting.
 */
export async function timedRequest(
  dispatcher: Dispatcher,
  path: string,
  options: { method?: 'GET' | 'POST'; json?: unknown; expectStatus?: number } = {},
): Promise<TimedResponse> {
  const method = options.method ?? 'GET';
  const t0 = performance.now();
  const res = await dispatcher.request({
    path,
    method,
    ...(options.json === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(options.json) }),
  });
  const chunks: Buffer[] = [];
  for await (const chunk of res.body) chunks.push(chunk as Buffer);
  const ms = performance.now() - t0;
  const body = Buffer.concat(chunks);
  const expected = options.expectStatus ?? 200;
  if (res.statusCode !== expected) {
    throw new HttpError(`${method} ${path}: HTTP ${res.statusCode} (expected ${expected}): ${body.toString('utf8').slice(0, 500)}`);
  }
  return { ms, bytes: body.length, body };
}

export async function getJson<T>(dispatcher: Dispatcher, path: string, options: Parameters<typeof timedRequest>[2] = {}): Promise<T> {
  return JSON.parse((await timedRequest(dispatcher, path, options)).body.toString('utf8')) as T;
}

/** GET `path` `count` times in a row on one connection; returns each latency (ms). */
export async function sequentialGets(url: string, path: string, count: number, expectBytes: number): Promise<number[]> {
  const client = connect(url);
  try {
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const { ms, bytes } = await timedRequest(client, path);
      if (bytes !== expectBytes) throw new HttpError(`GET ${path}: ${bytes} bytes, expected ${expectBytes}`);
      times.push(ms);
    }
    return times;
  } finally {
    await client.close();
  }
}

export interface LoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /**
   * CPU time of this (client) process over the run, in % of one core. Near
   * 100 % means the load generator, not the server, set the pace.
   */
  clientCpuPercent: number;
}

/**
 * `clients` concurrent loops, each GETting `path` back to back over its own
 * keep-alive connection, for `durationMs`. Bodies are counted, not kept,
 * so the client spends as little CPU as possible per response.
 */
export async function loadTest(url: string, path: string, clients: number, durationMs: number, expectBytes: number): Promise<LoadResult> {
  const pool = new Pool(url, { connections: clients, pipelining: 1, keepAliveTimeout: 30_000 });
  const latencies: number[] = [];
  const worker = async (deadline: number, record: boolean) => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const res = await pool.request({ path, method: 'GET' });
      let bytes = 0;
      for await (const chunk of res.body) bytes += (chunk as Buffer).length;
      if (res.statusCode !== 200 || bytes !== expectBytes) throw new HttpError(`GET ${path} under load: HTTP ${res.statusCode}, ${bytes} bytes`);
      if (record) latencies.push(performance.now() - t0);
    }
  };
  const runFor = (ms: number, record: boolean) => {
    const deadline = performance.now() + ms;
    return Promise.all(Array.from({ length: clients }, () => worker(deadline, record)));
  };
  try {
    // Open every connection and warm both sides before measuring.
    await runFor(500, false);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await runFor(durationMs, true);
    const cpu = process.cpuUsage(cpu0);
    // Requests in flight at the deadline still finish: count the real elapsed time.
    const seconds = (performance.now() - t0) / 1000;
    return {
      requests: latencies.length,
      seconds,
      requestsPerSecond: latencies.length / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      clientCpuPercent: ((cpu.user + cpu.system) / 1e6 / seconds) * 100,
    };
  } finally {
    await pool.close();
  }
}
