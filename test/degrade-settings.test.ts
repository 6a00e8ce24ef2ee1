/**
 * Quality bends under load (issue 15, part 4): which segments are degraded,
 * and that a degraded segment joins its rendition's init. The decision is a
 * pure function of the queue and the measured speed, tested directly. The
 * fast speed's SPS/PPS are proved equal to the normal ones by real encodes:
 * for the default preset, a whole degraded segment's stsd against the
 * rendition's init made as the origin makes it (a few frames, normal speed);
 * for every preset and tune, the parameter sets x264 writes at both speeds.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { decideSpeed, type DegradePolicy, type DegradeState } from '../src/coordinate/degrade.js';
import { findBoxes } from '../src/package/fmp4.js';
import { packageSpan } from '../src/package/package.js';
import { sameSampleDescription } from '../src/package/validate.js';
import { makePlan } from '../src/plan/plan.js';
import { probeSource } from '../src/probe/index.js';
import { packageVideoInit } from '../src/transcode/init-span.js';
import { encodeVideoSpan } from '../src/transcode/transcode.js';
import { x264SpeedArgs, type X264Preset, type X264Tune } from '../src/transcode/x264-tiers.js';
import { shortLifetime } from '../edge/src/edge.js';
import { exec, testSource } from './support/media.js';

const policy: DegradePolicy = { enabled: true, queueLength: 4, minSpeed: 1 };
const state = (changes: Partial<DegradeState>): DegradeState => ({
  reason: 'request',
  kind: 'video',
  encoder: 'libx264',
  waitingPlayers: 0,
  workers: 1,
  normalSpeed: 3,
  segmentSeconds: 4,
  ...changes,
});

describe('degrade decisions', () => {
  it('a player\'s encode is normal while its rendition keeps real time and the queue is short', () => {
    expect(decideSpeed(policy, state({}))).toEqual({ tier: 'normal' });
    expect(decideSpeed(policy, state({ reason: 'start' }))).toEqual({ tier: 'normal' });
    // Before the first normal encode of the rendition nothing is known: normal.
    expect(decideSpeed(policy, state({ normalSpeed: undefined }))).toEqual({ tier: 'normal' });
  });

  it('too slow for real time at the configured preset: fast', () => {
    expect(decideSpeed(policy, state({ normalSpeed: 0.8 }))).toEqual({ tier: 'fast', why: 'speed' });
    expect(decideSpeed(policy, state({ normalSpeed: 0.8, reason: 'start' }))).toEqual({ tier: 'fast', why: 'speed' });
    // Exactly real time makes it.
    expect(decideSpeed(policy, state({ normalSpeed: 1 }))).toEqual({ tier: 'normal' });
  });

  it('the players\' encodes waiting count against the speed: each needs a worker at the measured speed', () => {
    // 1.5× with one waiting on one worker: two segments' work in 4/1.5 × 2 = 5.3 s > 4 s.
    expect(decideSpeed(policy, state({ normalSpeed: 1.5, waitingPlayers: 1 }))).toEqual({ tier: 'fast', why: 'speed' });
    // The same on two workers: 4/1.5 × 1.5 = 4 s, in time.
    expect(decideSpeed(policy, state({ normalSpeed: 1.5, waitingPlayers: 1, workers: 2 }))).toEqual({ tier: 'normal' });
  });

  it('a long queue degrades whatever the speed', () => {
    expect(decideSpeed(policy, state({ waitingPlayers: 4, normalSpeed: 100 }))).toEqual({ tier: 'fast', why: 'queue' });
    expect(decideSpeed(policy, state({ waitingPlayers: 4, normalSpeed: undefined }))).toEqual({ tier: 'fast', why: 'queue' });
    expect(decideSpeed(policy, state({ waitingPlayers: 3, normalSpeed: 100 }))).toEqual({ tier: 'normal' });
  });

  it('never: a prefetch or re-make, audio, a hardware encoder, or when turned off', () => {
    const loaded = { waitingPlayers: 10, normalSpeed: 0.1 };
    expect(decideSpeed(policy, state({ ...loaded, reason: 'prefetch' }))).toEqual({ tier: 'normal' });
    expect(decideSpeed(policy, state({ ...loaded, kind: 'audio' }))).toEqual({ tier: 'normal' });
    expect(decideSpeed(policy, state({ ...loaded, encoder: 'h264_nvenc' }))).toEqual({ tier: 'normal' });
    expect(decideSpeed({ ...policy, enabled: false }, state(loaded))).toEqual({ tier: 'normal' });
  });

  it('min_speed sets the deadline: a segment must be made within its duration / min_speed', () => {
    expect(decideSpeed({ ...policy, minSpeed: 2 }, state({ normalSpeed: 1.9 }))).toEqual({ tier: 'fast', why: 'speed' });
    expect(decideSpeed({ ...policy, minSpeed: 0.5 }, state({ normalSpeed: 0.6 }))).toEqual({ tier: 'normal' });
  });
});

/** The SPS and PPS NAL units (hex) of an Annex B stream. */
function parameterSets(annexB: Buffer): string[] {
  return annexB
    .toString('hex')
    .split('000001')
    .slice(1)
    .map((nal) => nal.replace(/(00)+$/, ''))
    .filter((nal) => [7, 8].includes(parseInt(nal.slice(0, 2), 16) & 31));
}

async function x264ParameterSets(args: string[]): Promise<string[]> {
  const { stdout } = await exec(
    'ffmpeg',
    ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-frames:v', '3', '-c:v', 'libx264', '-profile:v', 'high', '-level:v', '30',
      '-crf', '23', '-maxrate', '900k', '-bufsize', '1800k', '-bf', '3', ...args, '-threads', '1', '-f', 'h264', '-'],
    { encoding: 'buffer', maxBuffer: 1 << 24 },
  );
  return parameterSets(stdout as unknown as Buffer);
}

describe('a degraded segment joins its rendition init', () => {
  it('default preset: a whole fast segment\'s stsd is the init\'s, byte for byte, and its pictures are not the normal ones', async () => {
    const source = await testSource('small');
    const plan = makePlan(await probeSource(source), { ...defaultStreamingConfig(), segment_duration: 2 });
    const rendition = plan.renditions[0]!;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-degrade-'));
    const work = async (name: string) => {
      const d = path.join(dir, name);
      await exec('mkdir', [d]);
      return d;
    };
    const init = await packageVideoInit(source, plan, rendition, await work('init'), {});
    const encoded = async (speed: 'normal' | 'fast') => {
      const d = await work(speed);
      const span = await encodeVideoSpan(source, plan, rendition, plan.videoSegments[1]!, d, { speed });
      return packageSpan(span.tsPath, 'video', d);
    };
    const [normal, fast] = [await encoded('normal'), await encoded('fast')];
    expect(findBoxes(init.init, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'])).toHaveLength(1);
    expect(sameSampleDescription(init.init, normal.init)).toBe(true);
    expect(sameSampleDescription(init.init, fast.init)).toBe(true);
    // The fast encode really is another encode (no lookahead, ultrafast analysis): its media differ.
    expect(Buffer.from(fast.segment).equals(Buffer.from(normal.segment))).toBe(false);
  }, 60_000);

  const presets: X264Preset[] = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'];
  const tunes: X264Tune[] = ['film', 'animation', 'grain', 'stillimage', 'fastdecode', 'zerolatency'];
  it.each([
    ...presets.map((preset) => ({ preset, tune: undefined })),
    // medium: psy-RD and trellis run, so each tune's psy settings move the chroma offset; fastdecode also turns CABAC off.
    ...tunes.map((tune) => ({ preset: 'medium' as const, tune })),
    { preset: 'veryfast' as const, tune: 'fastdecode' as const },
  ])('preset $preset, tune $tune: the same SPS/PPS at both speeds, and the normal speed is x264\'s preset unchanged', async ({ preset, tune }) => {
    // The last: what the origin encoded before the speeds were stated.
    const [normal, fast, before] = await Promise.all([
      x264ParameterSets(x264SpeedArgs(preset, tune, 'normal')),
      x264ParameterSets(x264SpeedArgs(preset, tune, 'fast')),
      x264ParameterSets(['-preset', preset, ...(tune ? ['-tune', tune] : []), '-x264-params', 'open-gop=0:8x8dct=1']),
    ]);
    expect(normal).toHaveLength(2);
    expect(fast).toEqual(normal);
    expect(before).toEqual(normal);
  });
});

describe('the edge keeps a degraded segment only as long as the origin says', () => {
  it('immutable: until evicted; otherwise its max-age', () => {
    expect(shortLifetime('public, max-age=31536000, immutable')).toBeUndefined();
    expect(shortLifetime('public, max-age=10')).toBe(10);
    expect(shortLifetime(undefined)).toBeUndefined();
  });
});
