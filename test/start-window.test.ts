/**
 * The start window: what the origin does while a player waits for its first
 * frame. A player's prefetch waits while that player has a start waiting or
 * running; the segment it needs right after its start is prefetched first, at
 * normal CPU priority; a resent request is not a seek. Proofs by order and
 * outcome (tasks held at gates the test opens), never by durations.
 */
import { describe, expect, it } from 'vitest';
import { EncodeQueue, NEXT_UP_PRIORITY, PRIORITY, type TaskReason } from '../src/coordinate/encode-queue.js';
import type { Content } from '../src/library/media-library.js';
import { Prefetcher, type PrefetchTarget } from '../src/prefetch/prefetcher.js';
import { PreemptedError, ProcessLane } from '../src/process/runner.js';

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
};

/** Lets pending promise callbacks run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

class TestLane extends ProcessLane {
  readonly gaveWay = gate();
  override preempt(): void {
    super.preempt();
    this.gaveWay.open();
  }
}

/** A queue whose tasks wait at a gate per key and log `key:reason:nice|normal` when they start. */
function heldQueue(workers: number, prefetchWorkers = workers) {
  const lanes: TestLane[] = [];
  const queue = new EncodeQueue(workers, { maxWaiting: Infinity, maxWaitMs: Infinity, prefetchWorkers }, (background) => {
    const lane = new TestLane(background);
    lanes.push(lane);
    return lane;
  });
  const started: string[] = [];
  const laneOf = new Map<string, TestLane>();
  const holds = new Map<string, ReturnType<typeof gate>>();
  const submit = (key: string, priority: number, client: string) => {
    holds.set(key, gate());
    return queue.run(
      key,
      async (reason: TaskReason) => {
        const lane = lanes.at(-1)!;
        laneOf.set(key, lane);
        started.push(`${key}:${reason}:${lane.background ? 'nice' : 'normal'}`);
        const cut = lane.gaveWay.opened.then(() => Promise.reject(new PreemptedError('cut')));
        await Promise.race([holds.get(key)!.opened, cut]);
        return key;
      },
      { priority, client },
    );
  };
  const open = (key: string) => holds.get(key)!.open();
  return { queue, started, submit, open, laneOf };
}

describe('the start window: no prefetch of a player competes with its start', () => {
  it("a player's prefetch waits while its start is made; then the next-up segment goes first, at normal CPU priority", async () => {
    const { started, submit, open } = heldQueue(2, 2);
    const tasks = [
      submit('v1', PRIORITY.start, 'a'),
      submit('a1', PRIORITY.start, 'a'),
      submit('v3', PRIORITY.prefetch, 'a'),
      submit('v2', NEXT_UP_PRIORITY, 'a'),
      submit('b2', PRIORITY.prefetch, 'b'), // another player's prefetch is not held
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
    const { queue, started, submit, open, laneOf } = heldQueue(1, 1);
    const r0 = submit('r0', PRIORITY.request, 'a');
    await settle();
    queue.demote('r0'); // the player's connection closed
    expect(laneOf.get('r0')!.background).toBe(true);
    const r1 = submit('r1', PRIORITY.request, 'a'); // the player's new request takes the slot
    await settle();
    expect(started).toEqual(['r0:request:normal', 'r1:request:normal', 'r0:prefetch:nice']);
    expect(queue.preempted).toBe(1);
    open('r1');
    open('r0');
    expect(await Promise.all([r0, r1])).toEqual(['r0', 'r1']); // not wasted: it still finishes
  });

  it('is not demoted while a player on another instance waits for it', async () => {
    const { queue, started, submit, open, laneOf } = heldQueue(1, 1);
    const r0 = submit('r0', PRIORITY.request, 'a');
    await settle();
    queue.raiseRunning('r0'); // another instance's "wanted"
    queue.demote('r0');
    expect(laneOf.get('r0')!.background).toBe(false);
    const r1 = submit('r1', PRIORITY.request, 'a');
    await settle();
    expect(started).toEqual(['r0:request:normal']);
    open('r0');
    open('r1');
    expect(await Promise.all([r0, r1])).toEqual(['r0', 'r1']);
  });
});
