/**
 * What the measurements of `npm run bench` share: the origin's bench config,
 * origin servers in child processes (bench/serve.ts), temp dirs, and their
 * cleanup at the end, on error and on Ctrl-C.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultStreamingConfig, type StreamingConfig } from '../src/config/config.js';
import { killChildServers, startChildServer, type ChildServer } from './lib.js';
import { BENCH_DIR } from './sources.js';

/** The child-server entry point: `serve.ts origin <mediaDir> <cacheDir>` or `serve.ts static <file>`. */
export const SERVE_SCRIPT = fileURLToPath(new URL('./serve.ts', import.meta.url));

/**
 * The origin's defaults with prefetch off: a background encode started by
 * one request would overlap the next measurement (or the bare ffmpeg run) on
 * this 2-core machine. Prefetch is measured on its own (cache-coordination.ts).
 * Degrade off too: on a loaded machine it makes a segment at x264's fast
 * speed and queues its normal re-make, so the origin would not run the
 * command the bare ffmpeg baseline runs, and the re-make would land in the
 * next measurement.
 */
export const benchStreamingConfig = (): StreamingConfig => {
  const defaults = defaultStreamingConfig();
  return {
    ...defaults,
    buffer_ahead: 0,
    prefetch: { ...defaults.prefetch, enabled: false },
    encoder: { ...defaults.encoder, degrade: { ...defaults.encoder.degrade, enabled: false } },
  };
};

/** Progress goes to stderr; the report to stdout. */
export const log = (message: string) => process.stderr.write(`${message}\n`);

/** A bench source file. */
export interface SourceFile {
  key: string;
  label: string;
  /** Relative to BENCH_DIR, the media root. */
  name: string;
}

/** What GET /api/v1/content/<hash>/info answers (the fields the bench reads). */
export interface Info {
  hash: string;
  segments: number;
  segmentDurations: number[];
  renditions: { id: string; name: string; width: number; height: number; bitrateKbps: number }[];
  audio: { id: string }[];
}

/** Registers a media file with an origin (POST /api/v1/content) and reads its plan (/info). */
export async function registerContent(url: string, file: string): Promise<{ hash: string; base: string; info: Info }> {
  const registered = (await (await fetch(`${url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json()) as { hash: string; urls: { info: string } };
  const info = (await (await fetch(`${url}${registered.urls.info}`)).json()) as Info;
  return { hash: registered.hash, base: `${url}/api/v1/content/${registered.hash}`, info };
}

export const vodPath = (name: string) => `/vod/${encodeURIComponent(name)}/master.m3u8`;

// ---------------------------------------------------------------------------
// Resources to clean up, also on Ctrl-C

const tempDirs = new Set<string>();
const servers = new Set<ChildServer>();

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/**
 * An origin (media root BENCH_DIR) in its own process, on `cacheDir`: the bench
 * config unless `streaming` is given; tracing into `trace` (origin-trace.ts) if given.
 */
export const startOrigin = async (cacheDir: string, options: { streaming?: StreamingConfig; trace?: string } = {}): Promise<ChildServer> =>
  track(
    await startChildServer(SERVE_SCRIPT, [
      'origin',
      BENCH_DIR,
      cacheDir,
      ...(options.streaming ? ['--streaming', JSON.stringify(options.streaming)] : []),
      ...(options.trace ? ['--trace', options.trace] : []),
    ]),
  );

/** Stops `server` at cleanup if it is still running then. */
export function track(server: ChildServer): ChildServer {
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

export async function cleanup(): Promise<void> {
  await Promise.all([...servers].map((s) => s.stop()));
  await Promise.all([...tempDirs].map((d) => removeTempDir(d)));
}

/** Ctrl-C: stop the child servers and remove temp dirs synchronously, then leave. */
export function exitOnInterrupt(): void {
  process.once('SIGINT', () => {
    killChildServers();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------
// Report formatting

export const ratio = (value: number) => `×${value.toFixed(2)}`;
export const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;
export const seconds = (value: number) => `${value.toFixed(1)} s`;
