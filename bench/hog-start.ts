/**
 * Cold starts next to a CPU hog:  npx tsx bench/hog-start.ts [--runs 10] [--players hls.js,dash.js]
 *
 * Two `yes > /dev/null` processes keep both cores busy while an origin with
 * one encode worker (`encoder.workers: 1`, otherwise the defaults: prefetch
 * on) serves each player, 10 runs in a row, every run on a fresh origin and
 * cache. Each run must: present a first frame with no timeout (reported by
 * the player, or a request it abandoned after its default timeout) and no
 * fatal error, play 20 s without a fatal error, and get no 503 on any init
 * segment or first segment. Prints a table (markdown) and a line per
 * failed check (every run's requests and origin trace go to
 * bench/results/hog-start.json); exits 1 if any check failed. The hogs are killed by PID at
 * the end, on error and on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { defaultStreamingConfig, type StreamingConfig } from '../src/config/config.js';
import { launchChromium, servePlayerPages } from '../test/support/browser.js';
import { cleanup, exitOnInterrupt, log, removeTempDir, startOrigin, tempDir, vodPath } from './harness.js';
import { median } from './lib.js';
import { readTrace, type OriginTrace } from './origin-trace.js';
import { PLAYER_CASES, playerRun, type PlayerCase, type PlayerRun } from './player-run.js';
import { ensureMain1080p } from './sources.js';

const WATCH_SECONDS = 20;
const RESULTS_FILE = fileURLToPath(new URL('./results/hog-start.json', import.meta.url));
/** Hang guard per phase: far beyond any player's default timeouts (hls.js 10 s to first byte, dash.js 20 s per fragment, Shaka 30 s). */
const PHASE_TIMEOUT_MS = 90_000;

interface Hog {
  pid: number;
  stop(): Promise<void>;
}

/**
 * `yes > /dev/null` under a shell that kills it when our pipe to it closes,
 * so a crashed bench leaves no hog behind; stopped by PID.
 */
async function startHog(): Promise<Hog> {
  const shell: ChildProcess = spawn('sh', ['-c', 'yes > /dev/null & echo $!; read _; kill $! 2>/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
  const exited = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
  const pid = await new Promise<number>((resolve) => createInterface({ input: shell.stdout! }).once('line', (line) => resolve(Number(line))));
  return {
    pid,
    stop: async () => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (err) {
        // ESRCH: already gone (the shell killed it); anything else is unexpected.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
      shell.stdin!.end();
      await exited;
    },
  };
}

interface HogRun {
  run: PlayerRun;
  trace: OriginTrace;
  /** Failed checks (empty: the run passed). */
  failed: string[];
  /** 503s on init or first segments, with whether a prefetch task waited in the queue at that moment. */
  refusedStarts: { path: string; prefetchQueued: boolean }[];
}

const isStartFile = (p: string) => /\/(init\.mp4|segment_1\.m4s)$/.test(p);
/** Player-reported timeouts: hls.js *TimeOut details, Shaka 1003 (TIMEOUT); dash.js reports none (it aborts and retries). */
const isTimeout = (e: string) => /timeout/i.test(e) || e === 'shaka:1003';

function check(player: PlayerCase, run: PlayerRun, trace: OriginTrace): HogRun {
  const failed: string[] = [];
  if (run.failure) failed.push(run.failure);
  if (run.firstFrameMs === undefined) failed.push('no first frame');
  const firstFrame = run.t0 + (run.firstFrameMs ?? Infinity);
  const timeouts = [...run.errors.fatal, ...run.errors.nonFatal].filter(isTimeout);
  if (timeouts.length > 0) failed.push(`player timeouts: ${timeouts.join(', ')}`);
  // Abandoned after the player's timeout: a timeout the player retried without reporting it (dash.js, Shaka's first attempt).
  const timedOut = run.requests.filter((r) => r.failure && r.sent < firstFrame && r.done - r.sent >= player.segmentTimeoutMs - 250);
  if (timedOut.length > 0) failed.push(`requests abandoned after ≥ ${player.segmentTimeoutMs / 1000} s before the first frame: ${timedOut.map((r) => path.basename(r.path)).join(', ')}`);
  if (run.errors.fatal.length > 0 || run.errors.mediaErrors.length > 0) failed.push(`fatal errors: ${[...run.errors.fatal, ...run.errors.mediaErrors].join(', ')}`);
  if (run.firstFrameMs !== undefined && !run.failure && run.watchedSeconds < WATCH_SECONDS - 0.5) failed.push(`played ${run.watchedSeconds.toFixed(1)} s of ${WATCH_SECONDS}`);
  const refusedStarts = run.requests
    .filter((r) => r.status === 503 && isStartFile(r.path))
    .map((r) => ({ path: r.path, prefetchQueued: trace.tasks.some((t) => t.startedAs !== 'request' && t.queued <= r.sent && (t.started ?? t.ended) > r.sent) }));
  for (const r of refusedStarts) failed.push(`503 on ${r.path.split('/').slice(-3).join('/')}${r.prefetchQueued ? ' while prefetch was queued' : ''}`);
  return { run, trace, failed, refusedStarts };
}

async function oneRun(browser: Awaited<ReturnType<typeof launchChromium>>, pagesUrl: string, sourceName: string, player: PlayerCase, streaming: StreamingConfig): Promise<HogRun> {
  const cacheDir = await tempDir('jitseg-bench-cache-');
  const traceDir = await tempDir('jitseg-bench-trace-');
  const traceFile = path.join(traceDir, 'trace.jsonl');
  try {
    const origin = await startOrigin(cacheDir, { streaming, trace: traceFile });
    let run: PlayerRun;
    try {
      const url = `${origin.url}${vodPath(sourceName).replace('master.m3u8', player.manifest)}`;
      run = await playerRun(browser, pagesUrl, origin.url, url, player, { watchSeconds: WATCH_SECONDS, phaseTimeoutMs: PHASE_TIMEOUT_MS });
    } finally {
      await origin.stop();
    }
    return check(player, run, readTrace(traceFile));
  } finally {
    await removeTempDir(cacheDir);
    await removeTempDir(traceDir);
  }
}

function report(byPlayer: Map<string, HogRun[]>): string[] {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const lines = [
    '| Player | Runs passed | First frame median (max) | Stalls in 20 s (runs with any) | 503 on init/segment 1 | Requests the player abandoned before the first frame (any reason) |',
    '|---|---:|---:|---|---:|---:|',
  ];
  for (const [player, runs] of byPlayer) {
    const frames = runs.map((r) => r.run.firstFrameMs).filter((v): v is number => v !== undefined);
    const stalled = runs.filter((r) => r.run.stalls.length > 0).length;
    const stalls = runs.reduce((sum, r) => sum + r.run.stalls.length, 0);
    const abandoned = runs.reduce((sum, r) => sum + r.run.requests.filter((q) => q.failure && q.sent < r.run.t0 + (r.run.firstFrameMs ?? Infinity)).length, 0);
    lines.push(
      `| ${player} | ${runs.filter((r) => r.failed.length === 0).length}/${runs.length} | ${frames.length ? `${s(median(frames))} (${s(Math.max(...frames))})` : '–'} | ` +
        `${stalls} (${stalled}) | ${runs.reduce((sum, r) => sum + r.refusedStarts.length, 0)} | ${abandoned} |`,
    );
  }
  for (const [player, runs] of byPlayer) for (const [i, r] of runs.entries()) for (const f of r.failed) lines.push(`- ${player} run ${i + 1}: ${f}`);
  return lines;
}

async function main(): Promise<boolean> {
  const argv = process.argv.slice(2);
  const arg = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const runs = Number(arg('--runs') ?? 10);
  const wanted = arg('--players')?.split(',');
  const players = PLAYER_CASES.filter((p) => !wanted || wanted.includes(p.name));
  const defaults = defaultStreamingConfig();
  const streaming: StreamingConfig = { ...defaults, encoder: { ...defaults.encoder, workers: 1 } };
  const sourceName = path.basename(await ensureMain1080p());
  const byPlayer = new Map<string, HogRun[]>(players.map((p) => [p.name, []]));
  const pages = await servePlayerPages();
  const browser = await launchChromium();
  const hogs: Hog[] = [];
  // Ctrl-C: exitOnInterrupt (below) exits at once; the hogs go first.
  // (Their shells also kill them when this process's pipes close.)
  process.once('SIGINT', () => hogs.forEach((h) => void h.stop()));
  exitOnInterrupt();
  try {
    hogs.push(await startHog(), await startHog());
    log(`[hog-start] hogs: yes > /dev/null, pids ${hogs.map((h) => h.pid).join(', ')}; workers: 1; ${runs} runs per player`);
    for (const player of players) {
      for (let i = 0; i < runs; i++) {
        const result = await oneRun(browser, pages.url, sourceName, player, streaming);
        byPlayer.get(player.name)!.push(result);
        log(`  ${player.name} run ${i + 1}: first frame ${result.run.firstFrameMs === undefined ? '–' : `${Math.round(result.run.firstFrameMs)} ms`}, ${result.run.stalls.length} stalls, ${result.failed.length === 0 ? 'ok' : `FAILED: ${result.failed.join('; ')}`}`);
      }
    }
  } finally {
    await Promise.all(hogs.map((h) => h.stop()));
    await browser.close();
    await pages.close();
    await cleanup();
  }
  // Every run's requests and origin trace, for a closer look (start-timeline.ts reads them).
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify({ date: new Date().toISOString(), runs, streaming, players: Object.fromEntries(byPlayer) })}\n`);
  console.log([`## Cold starts next to a CPU hog (2× yes, workers: 1, ${runs} runs per player, ${WATCH_SECONDS} s each)`, '', ...report(byPlayer)].join('\n'));
  return [...byPlayer.values()].every((list) => list.every((r) => r.failed.length === 0));
}

process.exitCode = (await main()) ? 0 : 1;
