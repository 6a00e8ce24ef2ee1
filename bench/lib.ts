/**
 * Bench helpers: statistics, a seeded PRNG, servers in child processes, and
 * timed HTTP requests with undici.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Client, Pool, type Dispatcher } from 'undici';

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
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();

/**
 * Starts `script` again with the same Node flags this process runs with (tsx's
 * loader included) and the given arguments, and waits for its ready line.
 */
export async function startChildServer(script: string, args: readonly string[], startTimeoutMs = 60_000): Promise<ChildServer> {
  // stdin is a pipe the child watches: if this process dies, the pipe closes and the child exits.
  const child = spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  running.add(child);
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

  return {
    url,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Kills every child server still running (used on abort). */
export function killChildServers(): void {
  for (const child of running) child.kill('SIGKILL');
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
