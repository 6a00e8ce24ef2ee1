/**
 * Probe speed on a 2-hour MP4:  npx tsx bench/probe-speed.ts
 *
 * The source (bench/sources.ts) is generated once and cached in /tmp/jitseg-bench/: a 1-minute
 * clip (320x180 @ 24000/1001 fps, libx264 ultrafast, GOP 96, AAC 48 kHz) is
 * concatenated 120 times with the concat demuxer and `-c copy` (seconds, not
 * the minutes a real 2-hour encode would take).
 *
 * Reports the median of 5 in-process probeMp4 runs (the first one includes JIT
 * warm-up, so it is also printed on its own), one run in a fresh child process
 * (cold JIT, the realistic "first request after start" case; module import time
 * excluded and printed separately), and an ffprobe packet scan for comparison.
 */
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { execa } from 'execa';
import { ensureLongMp4, LONG_MP4 as LONG } from './sources.js';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** Child mode: time a single probe in a fresh process and print JSON. */
async function child(path: string): Promise<void> {
  const t0 = performance.now();
  const { probeMp4 } = await import('../src/probe/mp4.js');
  const t1 = performance.now();
  const r = await probeMp4(path);
  const t2 = performance.now();
  process.stdout.write(JSON.stringify({ importMs: t1 - t0, probeMs: t2 - t1, frames: r.video.framePts.length }));
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') return child(process.argv[3]!);

  await ensureLongMp4();
  const { probeMp4 } = await import('../src/probe/mp4.js');
  const size = (await stat(LONG)).size;

  const runs: number[] = [];
  let result: Awaited<ReturnType<typeof probeMp4>> | undefined;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    result = await probeMp4(LONG);
    runs.push(performance.now() - t0);
  }
  const { framePts, keyframePts } = result!.video;

  const self = fileURLToPath(import.meta.url);
  const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
  const childOut = JSON.parse((await execa(tsx, [self, '--child', LONG])).stdout) as { importMs: number; probeMs: number };

  const f0 = performance.now();
  const scan = await execa('ffprobe', [
    '-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,dts,duration,flags', '-of', 'compact', LONG,
  ], { maxBuffer: 1024 * 1024 * 1024 });
  const ffprobeMs = performance.now() - f0;
  const packets = scan.stdout.split('\n').filter((l) => l.startsWith('packet|') && !/flags=[^|]*D/.test(l));
  const ptsOf = (l: string) => Number(/pts=(-?\d+)/.exec(l)![1]);
  const sameAs = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  const ffPts = packets.map(ptsOf).sort((a, b) => a - b);
  const ffKeys = packets.filter((l) => /flags=K/.test(l)).map(ptsOf).sort((a, b) => a - b);
  const same = sameAs(ffPts, framePts) && sameAs(ffKeys, keyframePts);

  const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
  console.log(`source: ${LONG} (${(size / 1e6).toFixed(0)} MB, ${(result!.durationSeconds / 3600).toFixed(2)} h, ${framePts.length} frames, ${keyframePts.length} keyframes)`);
  console.log(`probeMp4 in-process, 5 runs: ${runs.map(fmt).join(', ')}`);
  console.log(`  first (cold JIT): ${fmt(runs[0]!)}   median: ${fmt(median(runs))}`);
  console.log(`probeMp4 fresh child process: ${fmt(childOut.probeMs)} (module import ${fmt(childOut.importMs)} not included)`);
  console.log(`ffprobe packet scan (v:0, ${packets.length} presented packets): ${fmt(ffprobeMs)}`);
  console.log(`frame and keyframe pts identical to ffprobe's: ${same ? 'yes' : 'NO'}`);
}

await main();
