/**
 * Prefetch: the encode queue's priorities, the design's strategy (start-up,
 * linear, seek), and a player at 1× that finds its segments ready.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DroppedError, EncodeQueue, PRIORITY, type TaskReason } from '../src/coordinate/encode-queue.js';
import type { Content } from '../src/library/media-library.js';
import { Prefetcher, type PrefetchTarget } from '../src/prefetch/prefetcher.js';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { encoderWith, testServer } from './support/server.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('EncodeQueue', () => {
  it('runs player requests before prefetch, and drops waiting prefetch whose player left', async () => {
    const queue = new EncodeQueue(1);
    const order: string[] = [];
    const blocker = deferred();
    const run = (key: string, priority: number, signal?: AbortSignal) =>
      queue.run(key, async (reason: TaskReason) => {
        order.push(`${key}:${reason}`);
        if (key === 'first') await blocker.promise;
      }, { priority, ...(signal ? { signal } : {}) });

    const first = run('first', PRIORITY.request);
    const leaving = new AbortController();
    const p1 = run('p1', PRIORITY.prefetch, leaving.signal);
    const p2 = run('p2', PRIORITY.prefetch, leaving.signal);
    const p3 = run('p3', PRIORITY.prefetch, leaving.signal);
    const wanted = run('wanted', PRIORITY.request);
    queue.raise('p2', PRIORITY.request); // a player now waits for p2: no longer droppable
    expect(queue.depth).toBe(4);
    leaving.abort();
    await expect(p1).rejects.toBeInstanceOf(DroppedError);
    await expect(p3).rejects.toBeInstanceOf(DroppedError);
    expect(queue.depth).toBe(2);
    blocker.resolve();
    await Promise.all([first, wanted, p2]);
    // p2 became a request before "wanted" was queued: first come, first served among requests.
    expect(order).toEqual(['first:request', 'p2:request', 'wanted:request']);
  });

  it('never runs more than its workers at once', async () => {
    const queue = new EncodeQueue(2);
    let running = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        queue.run(`k${i}`, async () => {
          peak = Math.max(peak, ++running);
          await new Promise((r) => setTimeout(r, 5));
          running--;
        }, { priority: PRIORITY.prefetch }),
      ),
    );
    expect(peak).toBe(2);
  });
});

describe('Prefetcher (the design strategy)', () => {
  const content = { metadata: { hash: 'h'.repeat(64) } } as unknown as Content;
  function setup(ready: Set<number> = new Set()) {
    const fetched: Array<{ number: number; signal: AbortSignal }> = [];
    const prefetcher = new Prefetcher(
      { enabled: true, startup: 3, ahead: 5, afterSeek: 2 },
      async (target: PrefetchTarget, signal) => void fetched.push({ number: target.number, signal }),
      (target) => ready.has(target.number),
    );
    const request = (number: number, client = 'viewer') =>
      prefetcher.onRequest({ client, content, kind: 'video', renditionId: 'r', number, segmentCount: 40 });
    return { request, fetched };
  }

  it('start-up: the first 3 segments; linear: 5 ahead; seek: 2 at the seek point, dropping what the old position queued', () => {
    const { request, fetched } = setup(new Set([4]));
    expect(request(0)).toEqual([1, 2, 3]); // init segment: start-up
    expect(request(1)).toEqual([5, 6]); // linear: 2..6, of which 2 and 3 are queued already and 4 is ready
    const before = fetched.map((f) => f.signal);
    expect(request(20)).toEqual([21, 22]); // seek
    expect(before.every((s) => s.aborted)).toBe(true);
    expect(request(21)).toEqual([23, 24, 25, 26]);
    expect(request(21)).toEqual([]); // the same segment again: nothing new
    expect(fetched.at(-1)!.signal.aborted).toBe(false);
    expect(request(40)).toEqual([]); // the end
  });

  it('keeps one playhead per player and rendition', () => {
    const { request } = setup();
    expect(request(1, 'a')).toEqual([2, 3]);
    expect(request(30, 'b')).toEqual([31, 32]); // another player starting mid-stream: a seek for it
    expect(request(2, 'a')).toEqual([4, 5, 6, 7]); // a still linear
  });
});

describe('a player at 1×', () => {
  it('finds ≥ 95% of its segments ready after the first 3, and after a seek the seek point ready', async () => {
    const media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
    const server = await testServer(media, { segment_duration: 2 });
    try {
      const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
      const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
      const base = `${server.url}/api/v1/content/${registered.hash}`;
      const video = `${base}/video/${info.renditions[0].id}`;
      const audio = `${base}/audio/${info.audio[0].id}`;
      const misses = async () => metricValue(await scrape(server.url), 'jitseg_cache_misses_total');
      const isReady = (n: number) => stat(path.join(server.cacheDir, registered.hash, 'video', info.renditions[0].id, `segment_${n}.m4s`)).then(() => true, () => false);

      // Linear play in real time: init segments, then one video and one audio segment per segment duration.
      const started = Date.now();
      for (const track of [video, audio]) expect((await fetch(`${track}/init.mp4`)).status).toBe(200);
      let hits = 0;
      let counted = 0;
      const PLAYED = 10;
      for (let n = 1; n <= PLAYED; n++) {
        const due = started + (n - 1) * info.segmentDurations[0] * 1000;
        await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
        for (const track of [video, audio]) {
          const missesBefore = await misses();
          const response = await fetch(`${track}/segment_${n}.m4s`);
          expect(response.status).toBe(200);
          expect(response.headers.get('link')).toBe(`<segment_${n + 1}.m4s>; rel=preload; as=fetch; crossorigin`);
          await response.arrayBuffer();
          if (n > 3) {
            counted++;
            if ((await misses()) === missesBefore) hits++;
          }
        }
      }
      expect(hits / counted).toBeGreaterThanOrEqual(0.95);

      // Seek far ahead: what was queued for the old position is dropped, the seek point is prefetched.
      const scheduledBefore = metricValue(await scrape(server.url), 'jitseg_prefetch_scheduled_total');
      const seekTo = info.segments - 4;
      expect((await fetch(`${video}/segment_${seekTo}.m4s`)).status).toBe(200);
      expect(metricValue(await scrape(server.url), 'jitseg_prefetch_scheduled_total') - scheduledBefore).toBe(2);
      for (const n of [seekTo + 1, seekTo + 2]) {
        for (let tries = 0; !(await isReady(n)) && tries < 200; tries++) await new Promise((r) => setTimeout(r, 50));
        const before = await misses();
        expect((await fetch(`${video}/segment_${n}.m4s`)).status).toBe(200);
        expect(await misses()).toBe(before); // prefetched at the seek point
      }
    } finally {
      await server.close();
    }
  });

  it('a seek drops prefetch still waiting for a worker', async () => {
    const media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
    // One worker: while segment 2 is prefetched, segment 3 waits in the queue.
    const server = await testServer(media, { segment_duration: 2, encoder: encoderWith({ workers: 1 }) });
    try {
      const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
      const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
      const video = `${server.url}/api/v1/content/${registered.hash}/video/${info.renditions[0].id}`;
      expect((await fetch(`${video}/segment_1.m4s`)).status).toBe(200); // start-up prefetch: 2 and 3
      expect((await fetch(`${video}/segment_20.m4s`)).status).toBe(200); // seek: 3 is dropped
      const metrics = await scrape(server.url);
      expect(metricValue(metrics, 'jitseg_prefetch_dropped_total')).toBeGreaterThanOrEqual(1);
      // Requests always went first: segment 20 did not wait for prefetch.
      expect(metricValue(metrics, 'jitseg_transcodes_total', { reason: 'request' })).toBe(2);
    } finally {
      await server.close();
    }
  });
});
