import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, mediaFolder } from './support/media.js';
import { testServer } from './support/server.js';

/**
 * Audio is encoded span by span, yet must join without a gap, an overlap or a
 * click. Durations alone cannot show that (a one-frame error in dropping the
 * encoder's priming keeps every duration right), so this compares the decoded
 * stream with the source, sample by sample, around every join.
 */

const SAMPLE_RATE = 48_000;

async function decodePcm(input: string, out: string): Promise<Float32Array> {
  await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', input, '-vn', '-ac', '1', '-af', `aresample=${SAMPLE_RATE}`, '-f', 'f32le', out]);
  const { readFile } = await import('node:fs/promises');
  const bytes = await readFile(out);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

function rms(a: Float32Array, b: Float32Array, start: number, length: number, lag = 0): number {
  let sum = 0;
  for (let i = start; i < start + length; i++) sum += (a[i]! - b[i + lag]!) ** 2;
  return Math.sqrt(sum / length);
}

let server: Awaited<ReturnType<typeof testServer>>;
let work: string;
let source: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'jitseg-joins-'));
  source = path.join(work, 'tones.mp4');
  // A gliding tone plus a fixed one at 44.1 kHz: any misplaced frame shows as a large error.
  await exec('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=20',
    '-f', 'lavfi', '-i', 'aevalsrc=0.4*sin(2*PI*(300+40*t)*t)+0.2*sin(2*PI*1234*t):s=44100:d=20',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac', '-b:a', '192k', source,
  ]);
  server = await testServer(await mediaFolder({ 'tones.mp4': source }));
});

afterAll(async () => {
  await server?.close();
});

describe('audio joins', () => {
  it('the stream is sample-aligned with the source and no join is worse than the audio elsewhere', async () => {
    const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'tones.mp4' }) })).json();
    const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
    const playlist = `${server.url}/api/v1/content/${registered.hash}/audio/${info.audio[0].id}/playlist.m3u8`;
    const jit = await decodePcm(playlist, path.join(work, 'jit.f32'));
    const reference = await decodePcm(source, path.join(work, 'src.f32'));

    // Alignment: the best lag over a window in the middle is zero samples.
    const window = 4800;
    const middle = 9 * SAMPLE_RATE;
    let bestLag = 0;
    for (let lag = -2048; lag <= 2048; lag++) {
      if (rms(jit, reference, middle, window, lag) < rms(jit, reference, middle, window, bestLag)) bestLag = lag;
    }
    expect(bestLag).toBe(0);

    // Length: whole AAC frames, within one frame of the source.
    expect(Math.abs(jit.length - 20 * SAMPLE_RATE)).toBeLessThanOrEqual(1024);

    // Every join: the coding error in the 1024 samples around it is in line with the error elsewhere.
    const blockErrors: number[] = [];
    for (let start = 1024; start + 2048 < jit.length; start += 1024) blockErrors.push(rms(jit, reference, start, 1024));
    const median = [...blockErrors].sort((a, b) => a - b)[blockErrors.length >> 1]!;
    const durations: number[] = (await (await fetch(playlist)).text()).split('\n').filter((l) => l.startsWith('#EXTINF:')).map((l) => Number(l.slice(8, -1)));
    expect(durations.length).toBeGreaterThan(2);
    let at = 0;
    for (const duration of durations.slice(0, -1)) {
      at += duration;
      const join = Math.round(at * SAMPLE_RATE);
      expect(rms(jit, reference, join - 512, 1024), `join at ${at.toFixed(3)} s`).toBeLessThan(median * 3);
    }
  });
});
