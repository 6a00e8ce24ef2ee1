/**
 * The full-file bench's baseline (bench/measure/one-pass.ts) must make what
 * the origin makes, or its CPU ratio compares unlike work: every source frame
 * once, an IDR at each of the plan's cuts (the source here has them at
 * irregular times), and the audio rendition's AAC frames. And its key-frame
 * check must fail on a pass that does not force the cuts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkKeyframesAtCuts, onePassCommand } from '../bench/measure/one-pass.js';
import { defaultStreamingConfig } from '../src/config/config.js';
import { makePlan, type Plan } from '../src/plan/plan.js';
import { probeSource } from '../src/probe/index.js';
import { testSource } from './support/media.js';

let source: string;
let plan: Plan;
let work: string;

const packets = async (file: string, stream: string) => {
  const { stdout } = await execa('ffprobe', ['-v', 'error', '-select_streams', stream, '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'default=nw=1:nk=1', file]);
  // MPEG-TS lists the stream under its program too: the same count twice.
  return Number(stdout.trim().split('\n')[0]);
};

beforeAll(async () => {
  source = await testSource('main360p');
  // ultrafast: the GOP structure under test does not depend on the preset, and it keeps the file cheap.
  const config = defaultStreamingConfig();
  plan = makePlan(await probeSource(source), { ...config, encoder: { ...config.encoder, preset: 'ultrafast' } });
  work = await mkdtemp(join(tmpdir(), 'jitseg-one-pass-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

it('makes every planned frame, an IDR at each cut, and the audio rendition’s AAC frames, in one ffmpeg', async () => {
  const smallest = plan.renditions.at(-1)!;
  const command = onePassCommand(source, plan, [smallest], plan.audio[0], work);
  expect(command.args.filter((a) => a === '-i')).toHaveLength(1);
  await execa('ffmpeg', command.args, { stdin: 'ignore' });
  const video = command.outputs.find((o) => o.kind === 'video')!.file;
  const audio = command.outputs.find((o) => o.kind === 'audio')!.file;

  expect(plan.videoSegments.length).toBeGreaterThan(5);
  await expect(checkKeyframesAtCuts(video, plan)).resolves.toBeUndefined();
  expect(await packets(video, 'v:0')).toBe(plan.videoSegments.reduce((n, s) => n + s.frameCount, 0));
  expect(await packets(audio, 'a:0')).toBe(plan.audio[0]!.segments.reduce((n, s) => n + s.frameCount, 0));
});

it('refuses a pass whose key frames are not at the cuts', async () => {
  const smallest = plan.renditions.at(-1)!;
  const command = onePassCommand(source, plan, [smallest], undefined, work);
  const at = command.args.indexOf('-force_key_frames');
  // x264's own GOP (keyint 250, no scene cuts in testsrc2) instead of the plan's cuts.
  const unforced = [...command.args.slice(0, at), ...command.args.slice(at + 4)];
  expect(unforced).not.toContain('-forced-idr');
  await execa('ffmpeg', unforced, { stdin: 'ignore' });
  await expect(checkKeyframesAtCuts(command.outputs[0]!.file, plan)).rejects.toThrow(/no key frame at the cut of segment/);
});
