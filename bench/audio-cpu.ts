/**
 * Children CPU (user + system, from /proc/self/stat) of making 8 consecutive
 * audio segments of one rendition (each packaged), as single spans and as one run (an encoder per span), next to
 * one pass of `ffmpeg -i src -vn -c:a aac` over the same duration.
 * Usage: tsx bench/audio-cpu.ts <source> [segment_duration=2]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultStreamingConfig } from '../src/config/config.js';
import { makePlan } from '../src/plan/plan.js';
import { probeSource } from '../src/probe/index.js';
import { run } from '../src/process/runner.js';
import { packageSpan, packageSpans } from '../src/package/package.js';
import { encodeAudioRun } from '../src/transcode/audio-run.js';
import { encodeAudioSpan } from '../src/transcode/transcode.js';

const TICKS = 100;
async function childrenCpu(): Promise<number> {
  const fields = (await readFile('/proc/self/stat', 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) / TICKS;
}

const source = path.resolve(process.argv[2]!);
const segmentDuration = Number(process.argv[3] ?? 2);
const SEGMENTS = 8;
const plan = makePlan(await probeSource(source), { ...defaultStreamingConfig(), segment_duration: segmentDuration });
const audio = plan.audio[0]!;
const segments = audio.segments.slice(1, 1 + SEGMENTS);
const seconds = segments.reduce((sum, s) => sum + s.duration, 0) / 90_000;

async function measure(label: string, body: (work: string) => Promise<void>): Promise<number> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'audio-cpu-'));
  const before = await childrenCpu();
  await body(work);
  const cpu = (await childrenCpu()) - before;
  await rm(work, { recursive: true, force: true });
  console.log(`${label}: ${cpu.toFixed(2)} CPU-s for ${segments.length} segments (${(cpu / segments.length).toFixed(3)} per segment)`);
  return cpu;
}

await measure('spans', async (work) => {
  for (const segment of segments) {
    const dir = await mkdtemp(path.join(work, 's-'));
    const span = await encodeAudioSpan(source, plan, audio, segment, dir);
    await packageSpan(span.tsPath, 'audio', dir);
  }
});
await measure('one run', async (work) => {
  const made = await encodeAudioRun(source, plan, audio, segments, work);
  await packageSpans(made.spans, 'audio');
});
await measure(`one pass (${seconds.toFixed(2)} s)`, async (work) => {
  const start = (segments[0]!.start / 90_000 - 10).toFixed(6);
  await run('ffmpeg', ['-hide_banner', '-nostdin', '-ss', start, '-t', seconds.toFixed(6), '-i', source, '-vn', '-c:a', 'aac', '-b:a', `${audio.bitrateKbps}k`, '-y', path.join(work, 'pass.m4a')]);
});
