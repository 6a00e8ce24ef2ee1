/**
 * The start window: what the origin does while a player waits for its first
 * frame. A player's prefetch waits while that player has a start waiting or
 * running; the segment it needs right after its start is prefetched first, at
 * normal CPU priority; a resent request is not a seek. Proofs by order and
 * outcome (tasks held at gates the test opens), never by durations.
 */
import { describe, expect, it } from 'vitest';
import { NEXT_UP_PRIORITY, PRIORITY } from '../src/coordinate/encode-queue.js';
import type { Content } from '../src/library/media-library.js';
import { Prefetcher, type PrefetchTarget } from '../src/prefetch/prefetcher.js';
import { heldQueue, settle } from './support/held-queue.js';

/** A held queue (support/held-queue.ts) logging `key:reason:nice|normal`. */
const held = (workers: number, prefetchWorkers = workers) => heldQueue(workers, { limits: { maxWaiting: Infinity, maxWaitMs: Infinity, prefetchWorkers }, logLane: true });

describe('the start window: no prefetch of a player competes with its start', () => {
  it("a player's prefetch waits while its start is made; then the next-up segment goes first, at normal CPU priority", async () => {
    const { started, submit, open } = held(2, 2);
    const tasks = [
      submit('v1', PRIORITY.start, { client: 'a' }),
      submit('a1', PRIORITY.start, { client: 'a' }),
      submit('v3', PRIORITY.prefetch, { client: 'a' }),
      submit('v2', NEXT_UP_PRIORITY, { client: 'a' }),
      submit('b2', PRIORITY.prefetch, { client: 'b' }), // another player's prefetch is not held
    ];
    await settle();
    expect(started).toEqual(['v1:start:normal', 'a1:start:normal', 'b2:prefetch:nice']);
    open('v1');
    await settle();
    // a1 is still a start of player a: its prefetch still waits.
    expect(started).toHaveLength(3);
    open('a1');
    await settle();
    expect(started.slice(3)).toEqual(['v2:prefetch:normal']);
    open('b2');
    await settle();
    expect(started.slice(4)).toEqual(['v3:prefetch:nice']);
    for (const key of ['v2', 'v3']) open(key);
    expect(await Promise.all(tasks)).toEqual(['v1', 'a1', 'v3', 'v2', 'b2']);
  });
});

describe('Prefetcher: the start window', () => {
  const content = { metadata: { hash: 'h'.repeat(64) } } as unknown as Content;
  function setup() {
    const fetched: Array<{ number: number; signal: AbortSignal; nextUp: boolean }> = [];
    const prefetcher = new Prefetcher(
      { enabled: true, startup: 3, ahead: 5, afterSeek: 2 },
      async (target: PrefetchTarget, signal, _client, nextUp) => void fetched.push({ number: target.number, signal, nextUp }),
      () => false,
    );
    const request = (number: number, client = 'viewer') => prefetcher.onRequest({ client, content, kind: 'video', renditionId: 'r', number, segmentCount: 40 });
    return { request, fetched };
  }

  it('marks as next-up only the segment after a start (segment 1, the first after a seek), not deeper look-ahead', () => {
    const { request, fetched } = setup();
    expect(request(0)).toEqual([1, 2, 3]);
    expect(request(1)).toEqual([4, 5, 6]);
    expect(request(20)).toEqual([21, 22]);
    expect(request(21)).toEqual([23, 24, 25, 26]);
    expect(fetched.filter((f) => f.nextUp).map((f) => f.number)).toEqual([2, 21]);
  });
});

describe('Prefetcher: a resent request is not a seek', () => {
  const content = { metadata: { hash: 'h'.repeat(64) } } as unknown as Content;
  it('a player resending its init and first segment after a seek queues nothing new and drops nothing', () => {
    const fetched: Array<{ number: number; signal: AbortSignal }> = [];
    const prefetcher = new Prefetcher(
      { enabled: true, startup: 3, ahead: 5, afterSeek: 2 },
      async (target: PrefetchTarget, signal) => void fetched.push({ number: target.number, signal }),
      () => false,
    );
    const request = (number: number) => prefetcher.onRequest({ client: 'viewer', content, kind: 'video', renditionId: 'r', number, segmentCount: 40 });
    expect(request(0)).toEqual([1, 2, 3]);
    expect(request(1)).toEqual([4, 5, 6]);
    expect(request(20)).toEqual([21, 22]); // the seek: drops what segment 1 had queued
    // hls.js aborting and resending the segment after the seek, with its init, many times.
    for (let resend = 0; resend < 36; resend++) {
      expect(request(0)).toEqual([]);
      expect(request(20)).toEqual([]);
    }
    expect(fetched.map((f) => f.number)).toEqual([1, 2, 3, 4, 5, 6, 21, 22]);
    expect(fetched.filter((f) => f.signal.aborted).map((f) => f.number)).toEqual([1, 2, 3, 4, 5, 6]);
    // Then linear play from the seek point.
    expect(request(21)).toEqual([23, 24, 25, 26]);
  });
});

describe('an encode every requester has left', () => {
  it('is demoted: lowered to prefetch niceness, cut for the next request, then finished in a prefetch slot', async () => {
    const { queue, started, submit, open, laneOf } = held(1, 1);
    const r0 = submit('r0', PRIORITY.request, { client: 'a' });
    await settle();
    queue.demote('r0'); // the player's connection closed
    expect(laneOf.get('r0')!.background).toBe(true);
    const r1 = submit('r1', PRIORITY.request, { client: 'a' }); // the player's new request takes the slot
    await settle();
    expect(started).toEqual(['r0:request:normal', 'r1:request:normal', 'r0:prefetch:nice']);
    expect(queue.preempted).toBe(1);
    open('r1');
    open('r0');
    expect(await Promise.all([r0, r1])).toEqual(['r0', 'r1']); // not wasted: it still finishes
  });

  it('is not demoted while a player on another instance waits for it', async () => {
    const { queue, started, submit, open, laneOf } = held(1, 1);
    const r0 = submit('r0', PRIORITY.request, { client: 'a' });
    await settle();
    queue.raiseRunning('r0'); // another instance's "wanted"
    queue.demote('r0');
    expect(laneOf.get('r0')!.background).toBe(false);
    const r1 = submit('r1', PRIORITY.request, { client: 'a' });
    await settle();
    expect(started).toEqual(['r0:request:normal']);
    open('r0');
    open('r1');
    expect(await Promise.all([r0, r1])).toEqual(['r0', 'r1']);
  });
});
