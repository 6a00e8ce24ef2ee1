/**
 * Hostile media, timed:  npx tsx bench/hostile-probe.ts [--root DIR] [--no-heavy]
 *
 * Starts the real CLI (src/main.ts of this checkout, or of the checkout at
 * --root, to compare with an older version) on a folder of crafted files
 * (test/support/hostile-media.ts, plus a 10 h 16×16 MKV at 25 fps — 900,000
 * frames — unless --no-heavy), and for each file, under a fresh name:
 *   - the time to the answer of /vod/<file>/master.m3u8 (target: 2 s) and
 *     its status;
 *   - /healthz, asked back to back on another connection while that request
 *     is pending: how many answers and the slowest (target: 100 ms);
 *   - the time of a second request for the same file (from memory when refused).
 * Then the server's peak RSS (VmHWM; target: under 300 MB).
 *
 * A measurement, not a test: the tests (test/hostile-media.test.ts) assert
 * only what does not depend on the machine's speed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { HOSTILE_FILES, makeHostileMedia } from '../test/support/hostile-media.js';

const args = process.argv.slice(2);
const root = args.includes('--root') ? path.resolve(args[args.indexOf('--root') + 1]!) : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const heavy = !args.includes('--no-heavy');
const ANSWER_TARGET_MS = 2_000;
const HEALTHZ_TARGET_MS = 100;
/** A request still unanswered after this is reported as such (an old version may take minutes). */
const GIVE_UP_MS = 120_000;

async function startOrigin(media: string, cache: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--media', media, '--cache', cache, '--port', '0', '--host', '127.0.0.1'], {
    cwd: root,
    env: { ...process.env, JITSEG_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving .* on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the origin exited (${code}): ${out}`)));
  });
  return { url, child };
}

async function timed(url: string): Promise<{ status: number; ms: number; body: string }> {
  const started = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(GIVE_UP_MS) });
  const body = await res.text();
  return { status: res.status, ms: performance.now() - started, body };
}

/** /healthz back to back until `done` settles: the number of answers, the slowest, and the first failure. */
async function healthzWhile(base: string, done: Promise<unknown>): Promise<{ answers: number; slowestMs: number; failure?: string }> {
  let finished = false;
  void done.finally(() => (finished = true));
  let answers = 0;
  let slowestMs = 0;
  while (!finished) {
    const started = performance.now();
    try {
      await timed(`${base}/healthz`);
    } catch (err) {
      // An old version may stall or die on these files: that is the measurement, not a bench failure.
      return { answers, slowestMs: Math.max(slowestMs, performance.now() - started), failure: (err as Error).cause ? String((err as Error).cause) : (err as Error).message };
    }
    answers++;
    slowestMs = Math.max(slowestMs, performance.now() - started);
  }
  return { answers, slowestMs };
}

async function main(): Promise<void> {
  const media = await mkdtemp(path.join(os.tmpdir(), 'jitseg-hostile-bench-'));
  const cache = await mkdtemp(path.join(os.tmpdir(), 'jitseg-hostile-bench-cache-'));
  await makeHostileMedia(media);
  const files = HOSTILE_FILES.map((f) => f.name);
  if (heavy) {
    const name = 'ten-hours-16x16-25fps.mkv';
    await execa('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=gray:s=16x16:r=25:d=36000,format=gray', '-c:v', 'ffv1', path.join(media, name)]);
    files.push(name);
  }
  const origin = await startOrigin(media, cache);
  console.log(`# Hostile probe bench (${root === process.cwd() ? 'this checkout' : root}), ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)}\n`);
  console.log('| file | status | answer | /healthz answers while pending | slowest /healthz | second request |');
  console.log('|---|---|---|---|---|---|');
  try {
    let round = 0;
    for (const file of files) {
      // A fresh name: nothing remembered about it from earlier runs.
      const fresh = `run${round++}-${file}`;
      await copyFile(path.join(media, file), path.join(media, fresh));
      const url = `${origin.url}/vod/${encodeURIComponent(fresh)}/master.m3u8`;
      const answer = timed(url).catch((err: Error) => ({ status: 0, ms: GIVE_UP_MS, body: err.message }));
      const health = await healthzWhile(origin.url, answer);
      const first = await answer;
      const second = await timed(url).catch(() => ({ status: 0, ms: GIVE_UP_MS, body: '' }));
      const flag = (ms: number, target: number) => `${Math.round(ms)} ms${ms > target ? ' (over target)' : ''}`;
      const healthNote = health.failure ? ` (then failed: ${health.failure})` : '';
      console.log(`| ${file} | ${first.status || `no answer: ${first.body}`} | ${flag(first.ms, ANSWER_TARGET_MS)} | ${health.answers}${healthNote} | ${flag(health.slowestMs, HEALTHZ_TARGET_MS)} | ${second.status} in ${Math.round(second.ms)} ms |`);
      if (origin.child.exitCode !== null || origin.child.signalCode !== null) {
        console.log(`\nThe origin died (exit ${origin.child.exitCode}, signal ${origin.child.signalCode}); stopping.`);
        return;
      }
    }
    const status = await readFile(`/proc/${origin.child.pid}/status`, 'utf8');
    const peak = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
    console.log(`\nServer peak RSS (VmHWM): ${Math.round(peak)} MB (target: under 300 MB)`);
  } finally {
    origin.child.kill('SIGKILL');
    await rm(media, { recursive: true, force: true });
    await rm(cache, { recursive: true, force: true });
  }
}

await main();
