import { mkdtemp, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { makePlan } from '../src/plan/plan.js';
import { probeSource } from '../src/probe/index.js';
import { parseSampleIndex, SampleIndex, type SampleIndexStorage } from '../src/transcode/sample-index.js';
import { encodeAudioSpan } from '../src/transcode/transcode.js';
import { exec } from './support/media.js';

/** ffprobe `pts_time,nb_samples` lines as a millisecond clock reports them. */
const csv = (frames: Array<[number, number]>) => frames.map(([ms, samples]) => `${(ms / 1000).toFixed(6)},${samples}`).join('\n');

describe('sample index', () => {
  it('places each frame where the previous one ended, not where its millisecond time says', () => {
    // Vorbis at 48 kHz: 128, 576 then 1024 samples; times rounded to the millisecond (3, 6, 18, 39 ms).
    const index = parseSampleIndex(csv([[3, 128], [6, 576], [18, 1024], [39, 1024]]), 48_000, 48);
    expect([144, 288, 864, 1872].map((key) => index.positionOf(key, key === 144 ? 128 : key === 288 ? 576 : 1024))).toEqual([144, 272, 848, 1872]);
  });

  it('places a frame whose start the decoder dropped after a seek (Opus pre-skip) at the end of its packet', () => {
    // Packets at 0 (648 samples after the pre-skip), 14 and 34 ms; after a seek the decoder skips 312 samples of the
    // packet at 14 ms again and stamps the rest 7 ms later (336 samples, rounded).
    const index = parseSampleIndex(csv([[0, 648], [14, 960], [34, 960]]), 48_000, 48);
    expect(index.positionOf(672 + 336, 648)).toBe(648 + 312);
    expect(index.positionOf(672, 960)).toBe(648);
  });

  it('finds no place for a frame that fits no indexed frame', () => {
    const index = parseSampleIndex(csv([[0, 960], [20, 960]]), 48_000, 48);
    expect(index.positionOf(-48, 960)).toBeUndefined();
    expect(index.positionOf(960, 1024)).toBeUndefined();
    expect(index.positionOf(960 + 700, 960 - 30)).toBeUndefined();
  });

  it("follows a frame's time where it is more than a clock tick from the count (a gap in the recording)", () => {
    // 1024-sample frames at 0, 21, 43 ms, then 200 ms of missing audio: the frame stamped 264 ms starts at 12672, not 3072.
    const index = parseSampleIndex(csv([[0, 1024], [21, 1024], [43, 1024], [264, 1024], [285, 1024]]), 48_000, 48);
    expect(index.positionOf(2064, 1024)).toBe(2048);
    expect(index.positionOf(12_672, 1024)).toBe(12_672);
    expect(index.positionOf(13_680, 1024)).toBe(12_672 + 1024);
  });

  it('counts the samples of a frame without a time', () => {
    const index = parseSampleIndex('0.000000,1024\nN/A,1024\n0.043000,1024\n', 48_000, 48);
    expect(index.positionOf(2064, 1024)).toBe(2048);
    expect(index.frames).toBe(2);
  });

  it('is stored and read back as it was; bytes of another format or a torn write are no index', () => {
    const index = parseSampleIndex(csv([[3, 128], [6, 576], [18, 1024]]), 48_000, 48);
    const bytes = index.toBytes();
    const back = SampleIndex.fromBytes(bytes)!;
    expect(back.frames).toBe(3);
    expect(back.positionOf(288, 576)).toBe(272);
    expect(SampleIndex.fromBytes(bytes.subarray(0, bytes.byteLength - 8))).toBeUndefined();
    const otherFormat = new Float64Array(bytes.slice().buffer);
    otherFormat[0] = 99;
    expect(SampleIndex.fromBytes(new Uint8Array(otherFormat.buffer))).toBeUndefined();
  });
});

describe("a first span's background index scan", () => {
  it('reports its failure to the storage while the span itself is made', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'jitseg-index-scan-'));
    const source = path.join(work, 'opus.mkv');
    await exec('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=25:duration=3',
      '-f', 'lavfi', '-i', 'anoisesrc=color=pink:seed=7:amplitude=0.3:sample_rate=48000:duration=3',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'libopus', '-b:a', '64k', source,
    ]);
    const plan = makePlan(await probeSource(source), defaultStreamingConfig());
    const audio = plan.audio[0]!;
    // Matroska counts milliseconds: later spans need the index, so the first span starts its scan without waiting.
    expect(audio.coarseTimestamps).toBe(true);
    const failures: unknown[] = [];
    const storage: SampleIndexStorage = {
      load: () => Promise.reject(new Error('index storage unreadable')),
      save: () => Promise.resolve(),
      scanFailed: (err) => failures.push(err),
    };
    const span = await encodeAudioSpan(source, plan, audio, audio.segments[0]!, work, {}, storage);
    expect((await stat(span.tsPath)).size).toBeGreaterThan(0);
    await expect.poll(() => failures.length).toBe(1);
    expect(String(failures[0])).toContain('index storage unreadable');
  });
});
