/**
 * Probe stage tests. Sources are generated with ffmpeg (lavfi) into a temp dir;
 * expected timestamps always come from ffprobe itself, since the contract is
 * "the same pts ffmpeg's demuxer reports".
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeSource, ProbeError } from '../src/probe/index.js';
import { MP4BoxBuffer } from 'mp4box';
import { analyzeMoov, probeMp4 } from '../src/probe/mp4.js';
import { madeUpFile, madeUpMoov, warmMp4Probe, warmMp4ProbeWithFile } from '../src/probe/mp4/warm-up.js';
import { probeFileDeferred } from '../src/probe/probe-file.js';
import { probeWithFfprobe } from '../src/probe/ffprobe.js';
import { decodeRuns, deserializeProbe, encodeRuns, serializeProbe } from '../src/probe/serialize.js';
import type { ProbeResult } from '../src/probe/types.js';

let dir: string;
const p = (name: string) => join(dir, name);

async function ffmpeg(...args: string[]): Promise<void> {
  await execa('ffmpeg', ['-v', 'error', '-y', ...args]);
}

/** 4 s of 320x240 H.264 at 24000/1001 with 3 B-frames and irregular keyframes, plus AAC. */
const VIDEO_IN = ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=24000/1001'];
const AUDIO_IN = ['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];
const H264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '3', '-g', '48', '-force_key_frames', '0,0.7,1.9,2.2,3.1'];

interface Packet {
  pts: number;
  duration: number;
  key: boolean;
  discard: boolean;
}

async function ffprobePackets(path: string, stream = 'v:0'): Promise<Packet[]> {
  const { stdout } = await execa('ffprobe', [
    '-v', 'error', '-select_streams', stream, '-show_entries', 'packet=pts,duration,flags', '-of', 'json', path,
  ]);
  const json = JSON.parse(stdout) as { packets: Array<{ pts?: number; duration?: number; flags: string }> };
  return json.packets.map((pk) => ({
    pts: pk.pts ?? NaN,
    duration: pk.duration ?? 0,
    key: pk.flags.includes('K'),
    discard: pk.flags.includes('D'),
  }));
}

/** What ffmpeg presents: packets not flagged D (discarded by the edit list). */
function presented(packets: Packet[]) {
  const kept = packets.filter((pk) => !pk.discard);
  const sort = (a: number[]) => [...new Set(a)].sort((x, y) => x - y);
  const last = kept.reduce((a, b) => (b.pts > a.pts ? b : a));
  return {
    framePts: sort(kept.map((pk) => pk.pts)),
    keyframePts: sort(kept.filter((pk) => pk.key).map((pk) => pk.pts)),
    endPts: last.pts + last.duration,
  };
}

async function decodedFramePts(path: string): Promise<number[]> {
  const { stdout } = await execa('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts', '-of', 'csv=p=0', path]);
  return stdout.split('\n').filter(Boolean).map(Number).sort((a, b) => a - b);
}

async function ffprobeStreams(path: string) {
  const { stdout } = await execa('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path]);
  return JSON.parse(stdout) as {
    streams: Array<{ codec_type: string; time_base: string; start_time?: string; duration?: string; side_data_list?: Array<{ rotation?: number }> }>;
    format: { start_time: string; duration: string };
  };
}

/** Expect probe output to match ffprobe's view of the first video stream exactly. */
async function expectVideoMatchesFfprobe(result: ProbeResult, path: string): Promise<void> {
  const expected = presented(await ffprobePackets(path));
  const info = await ffprobeStreams(path);
  const v = info.streams.find((s) => s.codec_type === 'video')!;
  expect(`1/${result.video.timescale}`).toBe(v.time_base);
  expect(result.video.framePts).toEqual(expected.framePts);
  expect(result.video.keyframePts).toEqual(expected.keyframePts);
  expect(result.video.endPts).toBe(expected.endPts);
}

/**
 * Rewrite the video track's edit list of a moov-at-end MP4 (entries in movie
 * timescale; media_time -1 = empty edit). With moov last, growing it does not
 * move the mdat, so chunk offsets stay valid.
 */
async function withEditList(src: string, dst: string, entries: Array<[duration: number, mediaTime: number]>): Promise<void> {
  const data = await readFile(src);
  const children = (buf: Buffer, start: number, end: number) => {
    const out: Array<{ type: string; start: number; end: number }> = [];
    for (let o = start; o + 8 <= end; ) {
      const size = buf.readUInt32BE(o);
      out.push({ type: buf.toString('latin1', o + 4, o + 8), start: o, end: o + size });
      o += size;
    }
    return out;
  };
  const box = (type: string, body: Buffer) => {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(8 + body.length);
    h.write(type, 4, 'latin1');
    return Buffer.concat([h, body]);
  };
  const top = children(data, 0, data.length);
  const moov = top[top.length - 1]!;
  expect(moov.type).toBe('moov');
  const elstBody = Buffer.alloc(8 + 12 * entries.length);
  elstBody.writeUInt32BE(entries.length, 4);
  entries.forEach(([d, m], i) => {
    elstBody.writeUInt32BE(d, 8 + 12 * i);
    elstBody.writeInt32BE(m, 12 + 12 * i);
    elstBody.writeInt16BE(1, 16 + 12 * i);
  });
  const edts = box('edts', box('elst', elstBody));
  let videoDone = false;
  const moovChildren = children(data, moov.start + 8, moov.end).map((c) => {
    const raw = data.subarray(c.start, c.end);
    if (c.type !== 'trak' || videoDone) return raw;
    videoDone = true; // ffmpeg writes the video track first
    const parts = children(data, c.start + 8, c.end)
      .filter((t) => t.type !== 'edts')
      .flatMap((t) => (t.type === 'tkhd' ? [data.subarray(t.start, t.end), edts] : [data.subarray(t.start, t.end)]));
    return box('trak', Buffer.concat(parts));
  });
  await writeFile(dst, Buffer.concat([data.subarray(0, moov.start), box('moov', Buffer.concat(moovChildren))]));
}

/** Replace ffmpeg's `free` + 32-bit `mdat` headers by one 64-bit `mdat` header (same byte count). */
async function withLargeMdatHeader(src: string, dst: string): Promise<void> {
  const data = Buffer.from(await readFile(src));
  let at = 0;
  while (data.toString('latin1', at + 4, at + 8) !== 'free') at += data.readUInt32BE(at);
  expect(data.readUInt32BE(at)).toBe(8);
  expect(data.toString('latin1', at + 12, at + 16)).toBe('mdat');
  const mdatSize = data.readUInt32BE(at + 8);
  data.writeUInt32BE(1, at);
  data.write('mdat', at + 4, 'latin1');
  data.writeBigUInt64BE(BigInt(mdatSize + 8), at + 8);
  await writeFile(dst, data);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jitseg-probe-'));
  await ffmpeg(...VIDEO_IN, ...AUDIO_IN, '-t', '4', ...H264, '-c:a', 'aac', '-b:a', '64k', p('src.mp4'));
  await Promise.all([
    ffmpeg('-i', p('src.mp4'), '-c', 'copy', '-movflags', '+faststart', p('faststart.mp4')),
    // Stream-copy cut between keyframes: ffmpeg starts at the keyframe before
    // 1.3 s and writes an edit list that hides the frames before the cut.
    ffmpeg('-ss', '1.3', '-i', p('src.mp4'), '-c', 'copy', p('cut.mp4')),
    // Video delayed by 0.5 s: an initial empty edit.
    ffmpeg('-itsoffset', '0.5', '-i', p('src.mp4'), '-i', p('src.mp4'), '-map', '0:v', '-map', '1:a', '-c', 'copy', p('delayed.mp4')),
    ffmpeg('-i', p('src.mp4'), '-c', 'copy', '-metadata:s:v:0', 'rotate=90', p('rotated.mp4')),
    ffmpeg('-i', p('src.mp4'), '-c', 'copy', p('src.mkv')),
    ffmpeg('-i', p('src.mp4'), '-c', 'copy', '-f', 'mpegts', '-output_ts_offset', '10', p('src.ts')),
    ffmpeg(...AUDIO_IN, '-t', '2', '-c:a', 'aac', p('audio.m4a')),
    ffmpeg(...AUDIO_IN, '-t', '2', '-c:a', 'aac', p('audio-only.mp4')),
    ffmpeg(
      ...VIDEO_IN, ...AUDIO_IN, '-f', 'lavfi', '-i', 'sine=frequency=880:sample_rate=44100',
      '-map', '0:v', '-map', '1:a', '-map', '2:a', '-t', '2', ...H264, '-c:a', 'aac',
      '-metadata:s:a:0', 'language=eng', '-metadata:s:a:1', 'language=fra',
      p('multi-audio.mp4'),
    ),
  ]);
  await withLargeMdatHeader(p('src.mp4'), p('large-mdat.mp4'));
  // movie timescale is 1000: 0.5 s gap, then 1 s from 1.084 s, then 1 s from 2.085 s of media.
  await withEditList(p('src.mp4'), p('multi-edit.mp4'), [[500, -1], [1000, 26026], [1000, 50050]]);
  await writeFile(p('text.mp4'), 'this is not a video\n'.repeat(200));
  await writeFile(p('random.bin'), randomBytes(200_000));
  await writeFile(p('random.mp4'), randomBytes(200_000));
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('probeMp4 (moov fast path)', () => {
  it('matches ffprobe packet pts exactly for H.264 with B-frames, irregular keyframes, 24000/1001', async () => {
    const r = await probeMp4(p('src.mp4'));
    expect(r.prober).toBe('mp4box');
    expect(r.container).toBe('mp4');
    await expectVideoMatchesFfprobe(r, p('src.mp4'));
    expect(r.video.codec).toBe('h264');
    expect(r.video.timescale).toBe(24000);
    expect([r.video.width, r.video.height]).toEqual([320, 240]);
    expect(r.video.sampleAspectRatio).toBe('1:1');
    expect(r.video.rotation).toBe(0);
    expect(r.video.frameRate).toBeCloseTo(24000 / 1001, 6);
    expect(r.video.framePts).toHaveLength(96);
    // irregular GOPs from the forced keyframes at 0, 0.7, 1.9, 2.2 and 3.1 s
    expect(r.video.keyframePts.map((t) => t / 1001)).toEqual([0, 17, 46, 53, 74]);
    expect(r.audio).toEqual([
      { index: 0, codec: 'aac', channels: 1, sampleRate: 48000, language: 'und', isDefault: true, startSeconds: 0, endSeconds: 4 },
    ]);
    expect(r.startSeconds).toBe(0);
    expect(r.durationSeconds).toBeCloseTo(4.004, 6);
  });

  it('applies an edit list from a stream-copy cut like ffmpeg (discarded lead-in frames excluded)', async () => {
    const packets = await ffprobePackets(p('cut.mp4'));
    expect(packets.some((pk) => pk.discard)).toBe(true); // the file really has hidden frames

    const r = await probeMp4(p('cut.mp4'));
    await expectVideoMatchesFfprobe(r, p('cut.mp4'));
    // ...and exactly the frames the decoder outputs
    expect(r.video.framePts).toEqual(await decodedFramePts(p('cut.mp4')));
    expect(r.video.framePts[0]).toBe(0);
    // the cut starts between keyframes: the first presented frame is not a keyframe
    expect(r.video.keyframePts[0]).toBeGreaterThan(0);
    expect(r.video.keyframePts.every((k) => r.video.framePts.includes(k))).toBe(true);
    expect(r.audio[0]!.startSeconds).toBe(0);
    expect(r.audio[0]!.endSeconds).toBeCloseTo(Number((await ffprobeStreams(p('cut.mp4'))).streams[1]!.duration), 3);
  });

  it('offsets a track by an initial empty edit', async () => {
    const r = await probeMp4(p('delayed.mp4'));
    await expectVideoMatchesFfprobe(r, p('delayed.mp4'));
    expect(r.video.framePts[0]).toBe(12000); // 0.5 s at 1/24000
    expect(r.startSeconds).toBe(0); // audio starts at 0
    expect(r.durationSeconds).toBeCloseTo(4.504, 6);
  });

  it('follows ffmpeg through multiple edits', async () => {
    const r = await probeMp4(p('multi-edit.mp4'));
    await expectVideoMatchesFfprobe(r, p('multi-edit.mp4'));
    expect(r.video.framePts).toHaveLength(48);
  });

  it('reads moov at the end, moov up front (faststart) and 64-bit box sizes alike', async () => {
    const atEnd = await probeMp4(p('src.mp4'));
    const fast = await probeMp4(p('faststart.mp4'));
    const large = await probeMp4(p('large-mdat.mp4'));
    expect(fast).toEqual(atEnd);
    expect(large).toEqual(atEnd);
    await expectVideoMatchesFfprobe(large, p('large-mdat.mp4'));
  });

  it('reports display rotation clockwise (the negation of ffprobe\'s display-matrix rotation)', async () => {
    const r = await probeMp4(p('rotated.mp4'));
    const ffRotation = (await ffprobeStreams(p('rotated.mp4'))).streams[0]!.side_data_list![0]!.rotation!;
    expect(ffRotation).not.toBe(0);
    expect(r.video.rotation).toBe((((-ffRotation) % 360) + 360) % 360);
    // same convention on the ffprobe path
    expect((await probeWithFfprobe(p('rotated.mp4'))).video.rotation).toBe(r.video.rotation);
  });

  it('reports every audio track in order with its language and one default', async () => {
    const r = await probeMp4(p('multi-audio.mp4'));
    expect(r.audio.map((a) => [a.index, a.language, a.sampleRate])).toEqual([
      [0, 'eng', 48000],
      [1, 'fra', 44100],
    ]);
    expect(r.audio.filter((a) => a.isDefault).map((a) => a.index)).toEqual([0]);
  });

  it('refuses files it cannot handle so the caller can fall back', async () => {
    await expect(probeMp4(p('text.mp4'))).rejects.toThrow(/mp4 fast probe not possible/);
    await expect(probeMp4(p('audio-only.mp4'))).rejects.toThrow(/no video track/);
    await expect(probeMp4(p('does-not-exist.mp4'))).rejects.toMatchObject({ kind: 'unreadable' });
  });
});

describe('probeSource', () => {
  it('uses the mp4 fast path for MP4 and agrees with the ffprobe path', async () => {
    const fast = await probeSource(p('src.mp4'));
    const slow = await probeWithFfprobe(p('src.mp4'));
    expect(fast.prober).toBe('mp4box');
    expect(slow.prober).toBe('ffprobe');
    expect(slow.video.framePts).toEqual(fast.video.framePts);
    expect(slow.video.keyframePts).toEqual(fast.video.keyframePts);
    expect(slow.video.endPts).toBe(fast.video.endPts);
    expect(slow.container).toBe('mp4');
  });

  it('probes Matroska through ffprobe', async () => {
    const r = await probeSource(p('src.mkv'));
    expect(r.prober).toBe('ffprobe');
    expect(r.container).toBe('matroska');
    await expectVideoMatchesFfprobe(r, p('src.mkv'));
    expect(r.video.timescale).toBe(1000);
    expect(r.video.framePts).toHaveLength(96);
    expect(r.video.keyframePts).toHaveLength(5);
    expect(r.video.frameRate).toBeGreaterThan(23.9);
    expect(r.video.frameRate).toBeLessThan(24.1);
    expect(r.durationSeconds).toBeGreaterThan(3.9);
    expect(r.durationSeconds).toBeLessThan(4.1);
    expect(r.audio).toHaveLength(1);
    expect(r.audio[0]!.codec).toBe('aac');
  });

  it('probes MPEG-TS with a start far from zero', async () => {
    const r = await probeSource(p('src.ts'));
    expect(r.prober).toBe('ffprobe');
    expect(r.container).toBe('mpegts');
    await expectVideoMatchesFfprobe(r, p('src.ts'));
    expect(r.video.timescale).toBe(90000);
    expect(r.video.framePts).toHaveLength(96);
    expect(r.startSeconds).toBeGreaterThan(10);
    expect(r.startSeconds).toBeLessThan(12);
    expect(r.startSeconds).toBeCloseTo(Number((await ffprobeStreams(p('src.ts'))).format.start_time), 3);
    expect(r.video.framePts[0]! / 90000).toBeGreaterThan(10);
    expect(r.durationSeconds).toBeGreaterThan(3.9);
    expect(r.durationSeconds).toBeLessThan(4.2);
  });

  it('rejects files that are not media as not-media', async () => {
    for (const name of ['text.mp4', 'random.bin', 'random.mp4']) {
      const err = await probeSource(p(name)).then(() => undefined, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(ProbeError);
      expect((err as ProbeError).kind, name).toBe('not-media');
    }
  });

  it('rejects audio-only files as no-video', async () => {
    for (const name of ['audio.m4a', 'audio-only.mp4']) {
      const err = await probeSource(p(name)).then(() => undefined, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(ProbeError);
      expect((err as ProbeError).kind, name).toBe('no-video');
    }
  });

  it('rejects a missing file as unreadable', async () => {
    await expect(probeSource(p('missing.mkv'))).rejects.toMatchObject({ name: 'ProbeError', kind: 'unreadable' });
  });

  it('reports languages of multiple audio tracks through ffprobe too', async () => {
    const r = await probeWithFfprobe(p('multi-audio.mp4'));
    expect(r.audio.map((a) => [a.index, a.language])).toEqual([
      [0, 'eng'],
      [1, 'fra'],
    ]);
  });
});

describe('probe.json (serialize / deserialize)', () => {
  it('stores frame times as runs and gives back exactly the same probe', async () => {
    for (const name of ['src.mp4', 'cut.mp4', 'multi-edit.mp4', 'delayed.mp4']) {
      const probe = await probeMp4(p(name));
      const text = serializeProbe(probe);
      expect(deserializeProbe(text), name).toEqual(probe);
      expect(text.length, name).toBeLessThan(JSON.stringify(probe).length);
    }
    // Constant frame rate: a whole track is one run.
    const cfr = Array.from({ length: 172_680 }, (_, i) => i * 1001);
    expect(encodeRuns(cfr)).toEqual([0, 1001, 172_680]);
  });

  it('round-trips any list of numbers exactly, irregular and fractional ones included', () => {
    const lists = [
      [],
      [5],
      [1, 2],
      [0, 1001, 2002, 4004, 5005, 5006, 9000, 9000.5, 9001],
      Array.from({ length: 500 }, (_, i) => i * 0.1 + (i % 7 === 0 ? 0.3 : 0)),
      Array.from({ length: 200 }, (_, i) => -50_000 + i * 3 + (i > 100 ? 1 : 0)),
    ];
    for (const list of lists) expect(decodeRuns(encodeRuns(list))).toEqual(list);
  });

  it('refuses older formats (probed again) and anything unreadable', async () => {
    const probe = await probeMp4(p('src.mp4'));
    const current = JSON.parse(serializeProbe(probe)) as { probe: unknown };
    const older = [JSON.stringify(probe), JSON.stringify({ ...current, format: 'jitseg-probe-2' })];
    for (const bad of [...older, '', '{', 'null', '[]', '{"format":"jitseg-probe-3"}', '{"format":"jitseg-probe-3","probe":{"video":{"framePts":[0,1],"keyframePts":[]}}}', '{"format":"other"}']) {
      expect(deserializeProbe(bad), bad).toBeUndefined();
    }
  });
});

describe('probe worker warm-up', () => {
  it('analyses its made-up 30 min moov like a real one: every frame, every IDR, the edit list applied', () => {
    const moov = madeUpMoov();
    const buffer = new MP4BoxBuffer(moov.length);
    buffer.fileStart = 0;
    new Uint8Array(buffer).set(moov);
    const { probe, syncSamples } = analyzeMoov(buffer, 'isom');
    expect(probe.video).toMatchObject({ codec: 'h264', width: 64, height: 64, timescale: 24000, endPts: 43200 * 1001 });
    expect(probe.video.framePts).toHaveLength(43200);
    expect(probe.video.framePts.slice(0, 3)).toEqual([0, 1001, 2002]);
    expect(probe.video.keyframePts).toHaveLength(450);
    expect(syncSamples?.pts).toHaveLength(450);
    expect(() => warmMp4Probe()).not.toThrow();
  });

  it('probes its made-up file end to end on the MP4 fast path (never ffprobe): closed-GOP check and first picture included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jitseg-warm-'));
    try {
      const file = join(dir, 'warm.mp4');
      await writeFile(file, madeUpFile());
      const { probe, firstFrame } = await probeFileDeferred(file, Date.now() + 60_000);
      expect(probe.prober).toBe('mp4box');
      expect(probe.video.framePts).toHaveLength(43200);
      // Every sync sample starts with an IDR NAL unit: all 450 stay cut points.
      expect(probe.video.keyframePts).toHaveLength(450);
      expect(firstFrame.picture?.codec).toBe('h264');
      await warmMp4ProbeWithFile();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
