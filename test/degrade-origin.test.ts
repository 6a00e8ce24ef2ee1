/**
 * Degraded segments through a real origin. The decision is forced by state,
 * not by timing: `min_speed` is set so far above any machine's speed that
 * every player's video encode after the rendition's first measured normal
 * one is made fast (segment 1 is normal: nothing is measured before it).
 * Checked: the degraded responses are marked short-lived, counted in
 * /metrics and announced as SegmentDegraded events; their normal re-makes
 * replace them; and a stream that mixes degraded and normal segments under
 * the one init decodes every source frame, in order, on its own time (the
 * source draws each frame's number as a barcode, read back from the decode).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrames, expectSameVideo, type Frame } from './support/conformance.js';
import { frameCodeFilter } from './support/corpus.js';
import { frameNumbers } from './support/frame-code.js';
import { exec, mediaFolder } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const FPS = 25;
const SECONDS = 12;
const IMMUTABLE = 'public, max-age=31536000, immutable';

let server: TestServer;
let sourceFile: string;
let base: string;
let segments: number;
const sse: Array<{ event: string; data: any }> = [];
const sseAbort = new AbortController();

/** 320x240 with its frame number as a barcode, a keyframe every 2 s, no audio. */
async function codedSource(dir: string): Promise<string> {
  const file = path.join(dir, 'coded.mp4');
  await exec('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${FPS}:duration=${SECONDS}`,
    '-vf', frameCodeFilter(), '-c:v', 'libx264', '-preset', 'ultrafast', '-g', String(2 * FPS), '-pix_fmt', 'yuv420p', file,
  ]);
  return file;
}


async function get(url: string): Promise<{ body: Buffer; cacheControl: string }> {
  const response = await fetch(url);
  expect(response.status, url).toBe(200);
  return { body: Buffer.from(await response.arrayBuffer()), cacheControl: response.headers.get('cache-control') ?? '' };
}

/** Reads the origin's event stream into `sse` until aborted. */
async function follow(url: string): Promise<void> {
  const response = await fetch(url, { signal: sseAbort.signal });
  const reader = response.body!.getReader();
  let buffer = '';
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += Buffer.from(value!).toString('utf8');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) sse.push({ event, data: JSON.parse(data) });
      }
    }
  })();
}

beforeAll(async () => {
  sourceFile = await codedSource(await mkdtemp(path.join(os.tmpdir(), 'jitseg-degrade-src-')));
  server = await testServer(await mediaFolder({ 'coded.mp4': sourceFile }), {
    ...NO_PREFETCH,
    segment_duration: 2,
    profiles: [{ name: '240p', width: 320, height: 240, bitrate: 600, quality: 23 }],
    encoder: encoderWith({ preset: 'veryfast', workers: 1, degrade: { enabled: true, queue_length: 64, min_speed: 10_000 } }),
  });
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'coded.mp4' }) })).json();
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  base = `${server.url}/api/v1/content/${registered.hash}/video/${info.renditions[0].id}`;
  segments = info.segments;
  await follow(`${server.url}/api/v1/events?content=${registered.hash}&type=SegmentDegraded`);
}, 120_000);

afterAll(async () => {
  sseAbort.abort();
  await server?.close();
});

describe('degraded segments at an origin', () => {
  const degraded = new Map<number, Buffer>();
  const normal = new Map<number, Buffer>();
  let init: Buffer;

  it('after the first normal encode, a player\'s segments are made fast: short-lived, counted, announced', async () => {
    expect(segments).toBe(SECONDS / 2);
    init = (await get(`${base}/init.mp4`)).body;
    const first = await get(`${base}/segment_1.m4s`);
    expect(first.cacheControl).toBe(IMMUTABLE);
    normal.set(1, first.body);
    for (let n = 2; n <= segments; n++) {
      const answer = await get(`${base}/segment_${n}.m4s`);
      expect(answer.cacheControl, `segment ${n}`).toBe('public, max-age=10');
      degraded.set(n, answer.body);
    }
    const metrics = await scrape(server.url);
    expect(metricValue(metrics, 'jitseg_degraded_segments_total', { kind: 'video', why: 'speed' })).toBe(segments - 1);
    // Asked again: no encode; the same degraded bytes from memory until its re-make is stored, the normal ones after.
    const requests = () => scrape(server.url).then((m) => metricValue(m, 'jitseg_transcodes_total', { kind: 'video', reason: 'request' }));
    const before = await requests();
    const again = await get(`${base}/segment_2.m4s`);
    expect(await requests()).toBe(before);
    if (again.cacheControl === 'public, max-age=10') expect(again.body.equals(degraded.get(2)!)).toBe(true);
    else expect(again.cacheControl).toBe(IMMUTABLE);
    while (sse.filter((e) => e.event === 'SegmentDegraded').length < segments - 1) await new Promise((r) => setTimeout(r, 50));
    expect(sse.map((e) => e.data.segment).sort((a, b) => a - b)).toEqual(Array.from({ length: segments - 1 }, (_, i) => i + 2));
  }, 120_000);

  it('each degraded segment is re-made at the normal speed, stored and served as immutable from then on', async () => {
    // Re-makes run after all prefetch, in the prefetch slots: wait for them by count (the test's timeout bounds it).
    while (metricValue(await scrape(server.url), 'jitseg_transcodes_total', { kind: 'video', reason: 'prefetch' }) < segments - 1) {
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let n = 2; n <= segments; n++) {
      let answer = await get(`${base}/segment_${n}.m4s`);
      // The last re-make's store write may still be finishing after its count went up.
      while (answer.cacheControl !== IMMUTABLE) {
        await new Promise((r) => setTimeout(r, 100));
        answer = await get(`${base}/segment_${n}.m4s`);
      }
      expect(answer.body.equals(degraded.get(n)!), `segment ${n} re-made`).toBe(false);
      normal.set(n, answer.body);
    }
    // The re-makes counted no new degraded segment.
    expect(metricValue(await scrape(server.url), 'jitseg_degraded_segments_total')).toBe(segments - 1);
  }, 180_000);

  it('degraded and normal segments alternating under one init decode every source frame, in order, on its own time', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-degrade-mix-'));
    const source: Frame[] = await decodeFrames(sourceFile, '0:v:0');
    const mixes = {
      alternating: Array.from({ length: segments }, (_, i) => (i % 2 === 0 ? normal : degraded).get(i + 1) ?? normal.get(i + 1)!),
      'degraded after the first': Array.from({ length: segments }, (_, i) => degraded.get(i + 1) ?? normal.get(i + 1)!),
    };
    for (const [label, parts] of Object.entries(mixes)) {
      const file = path.join(dir, `${label.replace(/ /g, '-')}.mp4`);
      await writeFile(file, Buffer.concat([init, ...parts]));
      expect(await frameNumbers(file), label).toEqual(Array.from({ length: FPS * SECONDS }, (_, i) => i));
      expectSameVideo(label, await decodeFrames(file, '0:v:0'), source);
    }
  }, 120_000);
});
