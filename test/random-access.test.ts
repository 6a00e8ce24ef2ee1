/**
 * Closed-GOP keyframes: containers flag open-GOP I-frames (H.264 recovery
 * points, HEVC CRA) as keyframes; only IDR/BLA pictures may become cut points.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnexBPictureScanner, classifyLengthPrefixedSample } from '../src/probe/random-access.js';
import { probeSource } from '../src/probe/index.js';
import { scanVideoPackets } from '../src/probe/ffprobe.js';
import { sameTrack, scanMatroskaVideo } from '../src/probe/matroska/video-scan.js';
import { planCuts } from '../src/plan/plan.js';

/** One length-prefixed NAL unit (4-byte length) with an H.264 header of the given type. */
const avcNal = (type: number, payload: number[]) => [0, 0, 0, payload.length + 1, 0x60 | type, ...payload];
/** Annex B NAL unit, H.264 header. */
const annexB = (type: number, payload: number[]) => [0, 0, 0, 1, 0x60 | type, ...payload];
/** Annex B NAL unit, HEVC two-byte header. */
const annexBHevc = (type: number, payload: number[]) => [0, 0, 1, type << 1, 1, ...payload];

describe('classifyLengthPrefixedSample', () => {
  it('looks past SEI, SPS and PPS to the first slice', () => {
    const idr = new Uint8Array([...avcNal(6, [5, 1, 0x80]), ...avcNal(7, [0x64, 0, 0x1f]), ...avcNal(8, [0xee]), ...avcNal(5, [0x88, 0x84])]);
    expect(classifyLengthPrefixedSample('h264', 4, idr, 1000, 1000 + idr.length)).toBe(true);
    const openI = new Uint8Array([...avcNal(6, [6, 1, 0x80]), ...avcNal(1, [0x88, 0x84])]);
    expect(classifyLengthPrefixedSample('h264', 4, openI, 0, openI.length)).toBe(false);
  });

  it('asks for the next read when the bytes end before a slice', () => {
    const sei = avcNal(6, new Array(200).fill(0xff));
    const head = new Uint8Array(sei.slice(0, 64));
    expect(classifyLengthPrefixedSample('h264', 4, head, 5000, 5000 + sei.length + 10)).toBe(5000 + sei.length);
  });

  it('tells HEVC IDR and BLA (closed) from CRA (open)', () => {
    const hevc = (type: number) => new Uint8Array([0, 0, 0, 3, type << 1, 1, 0x80]);
    expect(classifyLengthPrefixedSample('hevc', 4, hevc(19), 0, 7)).toBe(true);
    expect(classifyLengthPrefixedSample('hevc', 4, hevc(20), 0, 7)).toBe(true);
    expect(classifyLengthPrefixedSample('hevc', 4, hevc(16), 0, 7)).toBe(true);
    expect(classifyLengthPrefixedSample('hevc', 4, hevc(21), 0, 7)).toBe(false);
  });
});

describe('AnnexBPictureScanner', () => {
  // Three pictures: IDR (two slices), open I, IDR. The second slice of a picture has first_mb_in_slice > 0.
  const stream = new Uint8Array([
    ...annexB(7, [0x64]), ...annexB(8, [0xee]), ...annexB(5, [0x88]), ...annexB(5, [0x40]),
    ...annexB(6, [6, 1]), ...annexB(1, [0x88, 0x10]),
    ...annexB(5, [0x88, 0x00, 0x00, 0x03]),
  ]);

  it('gives one verdict per picture whatever the chunk boundaries', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      for (const step of [1, 2, 3, 7]) {
        const scanner = new AnnexBPictureScanner('h264');
        scanner.push(stream.subarray(0, cut));
        for (let p = cut; p < stream.length; p += step) scanner.push(stream.subarray(p, Math.min(stream.length, p + step)));
        expect(scanner.verdicts(3), `cut ${cut} step ${step}`).toEqual([true, false, true]);
      }
    }
  });

  it('counts interlaced field pairs once when access unit delimiters are there', () => {
    const field = (type: number) => [...annexB(type, [0x88]), ...annexB(type, [0x88])]; // two fields, both first_mb 0
    const scanner = new AnnexBPictureScanner('h264');
    scanner.push(new Uint8Array([...annexB(9, [0xf0]), ...field(5), ...annexB(9, [0xf0]), ...field(1)]));
    expect(scanner.verdicts(2)).toEqual([true, false]);
  });

  it('refuses to guess when the picture count does not match the packets', () => {
    const scanner = new AnnexBPictureScanner('h264');
    scanner.push(stream);
    expect(scanner.verdicts(4)).toBeUndefined();
  });

  it('reads HEVC headers', () => {
    const scanner = new AnnexBPictureScanner('hevc');
    scanner.push(new Uint8Array([...annexBHevc(32, [0]), ...annexBHevc(19, [0x80]), ...annexBHevc(21, [0x80]), ...annexBHevc(21, [0x20])]));
    expect(scanner.verdicts(2)).toEqual([true, false]);
  });
});

describe('probe: open-GOP sources', () => {
  let dir: string;
  const FPS = 25;
  // Open GOPs: a keyframe-flagged I-frame every 30 frames; IDR at frame 0 and (x264) the forced one at 60.
  const openGop = (encoder: 'libx264' | 'libx265') => [
    '-f', 'lavfi', '-i', `testsrc2=size=160x120:rate=${FPS}:duration=6`,
    '-c:v', encoder, '-preset', 'veryfast', '-bf', '2',
    encoder === 'libx264' ? '-x264-params' : '-x265-params',
    `open-gop=1:keyint=30:min-keyint=30:scenecut=0${encoder === 'libx265' ? ':log-level=error' : ''}`,
    '-force_key_frames', 'expr:eq(n,60)', '-forced-idr', '1',
  ];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'jitseg-gop-'));
    const ff = (...args: string[]) => execa('ffmpeg', ['-v', 'error', '-y', ...args]);
    await ff(...openGop('libx264'), join(dir, 'h264.mp4'));
    await ff(...openGop('libx265'), '-tag:v', 'hvc1', join(dir, 'hevc.mp4'));
    await Promise.all([
      ff('-i', join(dir, 'h264.mp4'), '-c', 'copy', join(dir, 'h264.mkv')),
      ff('-i', join(dir, 'h264.mp4'), '-c', 'copy', join(dir, 'h264.ts')),
      ff('-i', join(dir, 'hevc.mp4'), '-c', 'copy', join(dir, 'hevc.mkv')),
      // Variable frame rate (25 fps, then 50 fps from 2 s) with B-frames, and an AAC track interleaved.
      ff('-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=50:duration=4', '-f', 'lavfi', '-i', 'sine=duration=4',
        '-vf', "select='lt(t,2)*not(mod(n,2))+gte(t,2)'", '-fps_mode', 'vfr', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '3', '-g', '40',
        '-c:a', 'aac', join(dir, 'vfr.mkv')),
    ]);
  }, 60_000);
  afterAll(() => rm(dir, { recursive: true, force: true }));

  // The one-pass Matroska scan (our own read of the blocks) against the two whole-file scans it replaces.
  it.each(['h264.mkv', 'hevc.mkv', 'vfr.mkv'])('%s: the Matroska scan reads the packets and closed-GOP verdicts the two scans do', async (file) => {
    const path = join(dir, file);
    const { stdout } = await execa('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height,time_base', '-of', 'json', path]);
    const s = (JSON.parse(stdout) as { streams: Array<{ codec_name: string; width: number; height: number; time_base: string }> }).streams[0]!;
    const [num, den] = s.time_base.split('/').map(Number) as [number, number];
    const expected = { ordinal: 0, count: 1, codec: s.codec_name, width: s.width, height: s.height, timeBase: { num, den } };
    const one = await scanMatroskaVideo(path, Date.now() + 30_000);
    const two = await scanVideoPackets(path, s.codec_name, num, 0, Date.now() + 30_000);
    expect(one).toBeDefined();
    expect(sameTrack(one!, expected)).toBe(true);
    const summary = ({ packets, verdicts }: Pick<NonNullable<typeof one>, 'packets' | 'verdicts'>) => ({
      frames: packets.all.sortedUnique(),
      keys: packets.keys.sortedUnique(),
      verdicts,
      packets: packets.packets,
      lastPts: packets.lastPts,
      lastDuration: packets.lastDuration,
    });
    const a = summary(one!);
    expect(a).toEqual(summary({ packets: two.packets, verdicts: two.verdicts! }));
    // B-frames (presentation order differs from file order), and for the open-GOP files flagged keyframes that are not cut points.
    const filePts = (await execa('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts', '-of', 'csv=p=0', path])).stdout.split('\n').map(Number);
    expect(filePts.some((pts, i) => i > 0 && pts < filePts[i - 1]!)).toBe(true);
    if (file !== 'vfr.mkv') expect(a.verdicts).toContain(false);
    else expect(new Set(a.frames.slice(1).map((t, i) => t - a.frames[i]!))).toEqual(new Set([40, 20]));
    // The probe takes that path: the same probe through the two scans would be the one ffprobe gives.
    const probe = await probeSource(path);
    expect(probe.video.framePts).toEqual(a.frames);
    expect(probe.video.endPts).toBe(a.lastPts + a.lastDuration!);
  });

  it('leaves a cut-off MKV (its last cluster incomplete, as while it is still written) to the two scans', async () => {
    const whole = await readFile(join(dir, 'h264.mkv'));
    const path = join(dir, 'cut.mkv');
    await writeFile(path, whole.subarray(0, Math.floor(whole.length * 0.7)));
    expect(await scanMatroskaVideo(path, Date.now() + 30_000)).toBeUndefined();
    const { packets, verdicts } = await scanVideoPackets(path, 'h264', 1, 0, Date.now() + 30_000);
    const probe = await probeSource(path);
    expect(probe.video.framePts).toEqual(packets.all.sortedUnique());
    expect(probe.video.framePts.length).toBeGreaterThan(50);
    expect(probe.video.framePts.length).toBeLessThan(150);
    expect(probe.video.keyframePts).toEqual(packets.keys.filtered((k) => verdicts![k] === true));
  });

  async function flaggedKeyframes(path: string): Promise<number> {
    const { stdout } = await execa('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=flags', '-of', 'csv=p=0', path]);
    return stdout.split('\n').filter((f) => f.includes('K')).length;
  }

  it.each([
    ['h264.mp4', 'mp4box', [0, 60]],
    ['h264.mkv', 'ffprobe', [0, 60]],
    ['h264.ts', 'ffprobe', [0, 60]],
    ['hevc.mp4', 'mp4box', [0]], // x265 ignores the forced IDR inside an open GOP: one IDR, the rest CRA
    ['hevc.mkv', 'ffprobe', [0]],
  ] as const)('%s: only IDR pictures are keyframes (%s)', async (file, prober, idrFrames) => {
    const path = join(dir, file);
    // The container flags the open-GOP I-frames too; otherwise this test proves nothing.
    expect(await flaggedKeyframes(path)).toBe(5);
    const probe = await probeSource(path);
    expect(probe.prober).toBe(prober);
    const { framePts, keyframePts, timescale } = probe.video;
    const frameIndex = keyframePts.map((pts) => framePts.indexOf(pts));
    expect(frameIndex).toEqual(idrFrames);
    // The plan then cuts on an IDR or between keyframes, never on the open-GOP I-frames at 30, 90, 120.
    for (const cut of planCuts(probe.video, 2)) {
      expect([30, 90, 120]).not.toContain(Math.round(((cut - framePts[0]!) / timescale) * FPS));
    }
  });
});
