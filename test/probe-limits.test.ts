/**
 * What the probe refuses, and what it believes: counts bounded by the bytes
 * that describe them, limits on geometry, frame rate and duration, the
 * decoded size over a header's claim, and ffmpeg's reading of duplicated
 * edit lists. Files are made with ffmpeg and edited by hand (craft-mp4.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProbeError } from '../src/probe/errors.js';
import { PROBE_LIMITS } from '../src/probe/limits.js';
import { probeMp4 } from '../src/probe/mp4.js';
import { probeFile } from '../src/probe/probe-file.js';
import { assertStreamable } from '../src/probe/validate.js';
import { child, craftMp4, fullBoxU32, stblOf, trakOf, type Mp4Box } from './support/craft-mp4.js';
import { HOSTILE_FILES, makeHostileMedia } from './support/hostile-media.js';
import { syntheticProbe } from './support/synthetic-probe.js';

let dir: string;
const p = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jitseg-limits-'));
  await makeHostileMedia(dir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusalOf(probe: Promise<unknown>): Promise<ProbeError> {
  const err = await probe.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ProbeError);
  return err as ProbeError;
}

async function ffmpeg(...args: string[]): Promise<void> {
  await execa('ffmpeg', ['-v', 'error', '-y', ...args]);
}

/** The width and height ffprobe decodes to. */
async function ffprobeSize(path: string): Promise<[number, number]> {
  const { stdout } = await execa('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', path]);
  return stdout.trim().split(',').map(Number) as [number, number];
}

describe('counts bounded by the bytes that describe them', () => {
  it('refuses sample tables claiming 200 million samples, in the moov fast path, without ffprobe', async () => {
    for (const name of ['claimed-samples.mp4', 'constant-size-claim.mp4']) {
      const err = await refusalOf(probeMp4(p(name)));
      expect(err.kind, name).toBe('impossible');
      expect(err.reason, name).toMatch(/claims 200000000 entries/);
    }
  });

  it('answers every crafted file as the hostile tests expect, in-process too', async () => {
    for (const file of HOSTILE_FILES) {
      const outcome = await probeFile(p(file.name)).then(() => 'manifest', (e: unknown) => (e instanceof ProbeError && e.kind === 'impossible' ? 'refused' : String(e)));
      expect(outcome, `${file.name}: ${file.why}`).toBe(file.expect);
    }
  });
});

describe('edit lists as ffmpeg reads them', () => {
  it('uses the last of two edit lists, as ffmpeg does, and presents the same frames', async () => {
    // A second edts starting 0.4 s into the media (media_time in track ticks, 512 per frame at 25 fps).
    await craftMp4(p('.base-64x64.mp4'), p('two-edit-lists.mp4'), (boxes) => {
      const trak = trakOf(boxes, 'vide');
      const edts: Mp4Box = { type: 'edts', children: [{ type: 'elst', payload: fullBoxU32(0, [1, 1000, 10 * 512, 0x00010000]) }] };
      trak.children!.splice(trak.children!.findIndex((b) => b.type === 'mdia'), 0, edts);
    });
    const { stdout } = await execa('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,flags', '-of', 'csv=p=0', p('two-edit-lists.mp4')]);
    const presented = stdout.trim().split('\n').map((l) => l.split(',')).filter(([, flags]) => !flags!.includes('D')).map(([pts]) => Number(pts));
    const probe = await probeMp4(p('two-edit-lists.mp4'));
    expect(presented.length).toBeLessThan(50);
    expect(probe.video.framePts).toEqual([...presented].sort((a, b) => a - b));
  });
});

describe('the decoded size, not the header', () => {
  it('reads the size from the SPS (cropping, 4:4:4, interlaced, HEVC), agreeing with ffprobe, whatever the sample entry claims', async () => {
    const sources: Array<[string, string[]]> = [
      ['crop-100x58.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=100x58:rate=25:duration=0.2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p']],
      ['yuv444-96x64.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=96x64:rate=25:duration=0.2', '-c:v', 'libx264', '-pix_fmt', 'yuv444p']],
      ['interlaced-176x144.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=176x144:rate=25:duration=0.2', '-c:v', 'libx264', '-flags', '+ildct+ilme', '-x264-params', 'interlaced=1', '-pix_fmt', 'yuv420p']],
      ['hevc-200x114.mp4', ['-f', 'lavfi', '-i', 'testsrc=size=200x114:rate=25:duration=0.2', '-c:v', 'libx265', '-x265-params', 'log-level=error', '-tag:v', 'hvc1', '-pix_fmt', 'yuv420p']],
    ];
    for (const [name, args] of sources) {
      await ffmpeg(...args, p(name));
      const lying = `lying-${name}`;
      await craftMp4(p(name), p(lying), (boxes) => {
        const stsd = child(stblOf(trakOf(boxes, 'vide')), 'stsd').payload!;
        stsd.writeUInt16BE(8192, 40);
        stsd.writeUInt16BE(8192, 42);
      });
      const expected = await ffprobeSize(p(name));
      for (const file of [name, lying]) {
        const probe = await probeMp4(p(file));
        expect([probe.video.width, probe.video.height], file).toEqual(expected);
      }
    }
  });
});

describe('limits', () => {
  const base = () => syntheticProbe({ seconds: 10, keyframeSeconds: [0], width: 640, height: 360 });
  const refused = (change: (probe: ReturnType<typeof base>) => void): string => {
    const probe = base();
    change(probe);
    try {
      assertStreamable(probe);
    } catch (err) {
      expect(err).toBeInstanceOf(ProbeError);
      return (err as ProbeError).reason;
    }
    return 'accepted';
  };

  it('accepts an ordinary source', () => {
    expect(refused(() => {})).toBe('accepted');
  });

  it('refuses impossible geometry, frame rates and durations with the reason', () => {
    expect(refused((pr) => ((pr.video.width = 0), (pr.video.height = 0)))).toMatch(/picture size is 0×0/);
    expect(refused((pr) => (pr.video.width = PROBE_LIMITS.maxDimension + 1))).toMatch(/exceeds 16384 pixels/);
    expect(refused((pr) => (pr.video.height = PROBE_LIMITS.minDimension - 1))).toMatch(/below 16 pixels/);
    expect(refused((pr) => (pr.video.sampleAspectRatio = '1000:1'))).toMatch(/displayed size 640000×360/);
    expect(refused((pr) => (pr.video.frameRate = 0.05))).toMatch(/frame rate of 0.05 fps/);
    expect(refused((pr) => (pr.video.frameRate = 5000))).toMatch(/frame rate of 5000 fps/);
    expect(refused((pr) => (pr.durationSeconds = 0))).toMatch(/duration is 0 s/);
    expect(refused((pr) => (pr.durationSeconds = 49 * 3600))).toMatch(/longer than the 172800 s limit/);
    expect(refused((pr) => (pr.video.endPts = pr.video.framePts[0]!))).toMatch(/video lasts 0 s/);
    expect(refused((pr) => (pr.startSeconds = Number.NaN))).toMatch(/start time is NaN/);
    expect(refused((pr) => (pr.audio[0]!.endSeconds = Number.POSITIVE_INFINITY))).toMatch(/audio track 0/);
  });
});
