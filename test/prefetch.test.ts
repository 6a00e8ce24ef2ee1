/**
 * Prefetch: the encode queue's priorities and slots, the design's strategy
 * (start-up, linear, seek), and a player whose segments prefetch made first.
 */
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
  it('runs player requests before waiting prefetch, and drops waiting prefetch whose player left', async () => {
    const queue = new EncodeQueue(1);
    const order: string[] = [];
    const blocker = deferred();
    const run = (key: string, priority: number, signal?: AbortSignal) =>
      queue.run(key, async (reason: TaskReason) => {
        order.push(`${key}:${reason}`);
        if (key === 'first' || key === 'prefetching') await blocker.promise;
      }, { priority, ...(signal ? { signal } : {}) });

    const first = run('first', PRIORITY.request); // the request slot
    const prefetching = run('prefetching', PRIORITY.prefetch); // the prefetch slot
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
    await Promise.all([first, prefetching, wanted, p2]);
    // p2 became a request before "wanted" was queued: first come, first served among requests.
    expect(order).toEqual(['first:request', 'prefetching:prefetch', 'p2:request', 'wanted:request']);
  });

  it('never runs more than its workers at once, per kind: requests and prefetch each have their own slots', async () => {
    const queue = new EncodeQueue(2);
    const running: Record<TaskReason, number> = { start: 0, request: 0, prefetch: 0 };
    const peak: Record<TaskReason, number> = { start: 0, request: 0, prefetch: 0 };
    await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        queue.run(`k${i}`, async (reason) => {
          peak[reason] = Math.max(peak[reason], ++running[reason]);
          await new Promise((r) => setTimeout(r, 5));
          running[reason]--;
        }, { priority: i % 2 ? PRIORITY.prefetch : PRIORITY.request }),
      ),
    );
    expect(peak).toEqual({ start: 0, request: 2, prefetch: 2 });
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

describe('a player in linear play, then seeking', () => {
  // The seek that does not wait for a running prefetch, and the drop of the prefetch still waiting, are proven by
  // event order in test/preemption.test.ts; the hit ratio of a player at 1× is a speed figure: bench/preemption.ts.
  it('asks for nothing prefetch has not made first; after a seek the next segments are prefetched from the seek point', async () => {
    const media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
    // Prefetch at normal priority here: at nice 19 next to a CPU hog it gets almost no CPU (by design), and this
    // test is about which segments are made ahead, not about priority (test/preemption.test.ts).
    const server = await testServer(media, { segment_duration: 2, encoder: encoderWith({ prefetch_nice: 0 }) });
    const ready = new Set<string>();
    const stop = server.events.subscribe((e) => {
      if (e.type === 'SegmentReady') ready.add(`${e.kind} ${e.segment}`);
    });
    try {
      const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
      const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
      const base = `${server.url}/api/v1/content/${registered.hash}`;
      const tracks = { video: `${base}/video/${info.renditions[0].id}`, audio: `${base}/audio/${info.audio[0].id}` };
      const misses = async () => metricValue(await scrape(server.url), 'jitseg_cache_misses_total');
      const made = async (kind: string, n: number) => {
        while (!ready.has(`${kind} ${n}`)) await new Promise((r) => setTimeout(r, 50));
      };

      // The init segments (a few frames each; each sets off its rendition's start-up prefetch from segment 1), then
      // linear play: every segment was made by prefetch before the player asks for it, and is then served without an encode.
      for (const track of Object.values(tracks)) expect((await fetch(`${track}/init.mp4`)).status).toBe(200);
      const PLAYED = 5;
      for (let n = 1; n <= PLAYED; n++) {
        for (const [kind, track] of Object.entries(tracks)) {
          await made(kind, n);
          const missesBefore = await misses();
          const response = await fetch(`${track}/segment_${n}.m4s`);
          expect(response.status).toBe(200);
          expect(response.headers.get('link')).toBe(`<segment_${n + 1}.m4s>; rel=preload; as=fetch; crossorigin`);
          await response.arrayBuffer();
          expect(await misses()).toBe(missesBefore);
        }
      }
      // Segments 2 to PLAYED of both tracks were made at prefetch priority (nobody asked for them before).
      expect(metricValue(await scrape(server.url), 'jitseg_transcodes_total', { reason: 'prefetch' })).toBeGreaterThanOrEqual(2 * (PLAYED - 1));

      // Seek far ahead: the seek point's next two segments are prefetched, and then served without an encode.
      const scheduledBefore = metricValue(await scrape(server.url), 'jitseg_prefetch_scheduled_total');
      const seekTo = info.segments - 4;
      expect((await fetch(`${tracks.video}/segment_${seekTo}.m4s`)).status).toBe(200);
      expect(metricValue(await scrape(server.url), 'jitseg_prefetch_scheduled_total') - scheduledBefore).toBe(2);
      for (const n of [seekTo + 1, seekTo + 2]) {
        await made('video', n);
        const before = await misses();
        expect((await fetch(`${tracks.video}/segment_${n}.m4s`)).status).toBe(200);
        expect(await misses()).toBe(before);
      }
    } finally {
      stop();
      await server.close();
    }
  });
});
