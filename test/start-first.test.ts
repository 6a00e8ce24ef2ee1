/**
 * Start-first scheduling (issue 13): a player's start (inits, segment 1, the
 * first segment after a seek) goes before every other encode, pre-empts
 * non-start work holding a worker, and is never refused while prefetch or
 * other requests could make room. The proof is order and outcome, never
 * durations: tasks are held at gates the test opens.
 */
import { describe, expect, it } from 'vitest';
import { DroppedError, PRIORITY } from '../src/coordinate/encode-queue.js';
import { ServiceUnavailableError } from '../src/errors.js';
import { StartTracker } from '../src/http/start-tracker.js';
import { multivariantPlaylist, startRendition, videoPlaylistPath } from '../src/manifest/hls.js';
import type { Plan, VideoRendition } from '../src/plan/plan.js';
import { heldQueue, settle } from './support/held-queue.js';

/** What a task came to: its value or its error (taken at once, so a rejection is never unhandled while the test waits). */
const outcome = <T>(task: Promise<T>): Promise<T | unknown> => task.then((value) => value, (err: unknown) => err);

describe('EncodeQueue: a start goes first', () => {
  it('light tasks (init encodes) run in slots of their own and wait within a bound of their own: they neither shed nor refuse segment work, nor it them', async () => {
    const { queue, started, submit, open } = heldQueue(1, { limits: { maxWaiting: 2, maxWaitMs: Infinity } });
    const r0 = outcome(submit('r0', PRIORITY.request)); // the request slot
    const p0 = outcome(submit('p0', PRIORITY.prefetch)); // the prefetch slot
    const r1 = outcome(submit('r1', PRIORITY.request));
    const p1 = outcome(submit('p1', PRIORITY.prefetch)); // segment work waiting: 2 of 2
    const i1 = outcome(submit('i1', PRIORITY.start, { light: true })); // an init: the init slot, beside the busy segment slots
    expect(started).toEqual(['r0:request', 'p0:prefetch', 'i1:start']);
    expect(queue.shed).toBe(0);
    expect(queue.refused).toBe(0);
    const s1 = outcome(submit('s1', PRIORITY.start)); // a segment start sheds the waiting prefetch, not an init
    expect(await p1).toBeInstanceOf(DroppedError);
    const i2 = outcome(submit('i2', PRIORITY.start, { light: true }));
    const i3 = outcome(submit('i3', PRIORITY.start, { light: true })); // inits waiting: 2 of 2
    const i4 = outcome(submit('i4', PRIORITY.start, { light: true })); // refused: nothing light below a start to make room, and no segment work is taken
    expect(await i4).toBeInstanceOf(ServiceUnavailableError);
    expect(queue.shed).toBe(1);
    expect(queue.refused).toBe(1);
    expect(queue.preempted).toBe(1); // r0, for the segment start s1; nothing for the waiting inits
    for (const key of ['r0', 'p0', 'r1', 'i1', 's1', 'i2', 'i3']) open(key);
    expect(await Promise.all([r0, p0, r1, i1, s1, i2, i3])).toEqual(['r0', 'p0', 'r1', 'i1', 's1', 'i2', 'i3']);
    // The starts in order of arrival, inits in their own slot; the cut request runs again first among requests.
    expect(started.filter((e) => e.endsWith(':start'))).toEqual(['i1:start', 's1:start', 'i2:start', 'i3:start']);
  });

  it('a start waiting for a worker goes before waiting requests and prefetch', async () => {
    const { queue, started, submit, open } = heldQueue(1);
    const s0 = submit('s0', PRIORITY.start); // the request slot, held by a start: nothing to cut
    const p0 = submit('p0', PRIORITY.prefetch); // the prefetch slot
    const p1 = submit('p1', PRIORITY.prefetch);
    const r1 = submit('r1', PRIORITY.request);
    const s1 = submit('s1', PRIORITY.start);
    expect(started).toEqual(['s0:start', 'p0:prefetch']);
    expect(queue.waitingByReason).toEqual({ start: 1, request: 1, prefetch: 1 });
    open('s0');
    await s0;
    expect(started).toEqual(['s0:start', 'p0:prefetch', 's1:start']);
    for (const key of ['s1', 'r1', 'p0', 'p1']) open(key);
    await Promise.all([s1, r1, p0, p1]);
    expect(started).toEqual(['s0:start', 'p0:prefetch', 's1:start', 'r1:request', 'p1:prefetch']);
    expect(queue.preempted).toBe(0);
  });

  it('a request holding the worker is pre-empted for a start and runs again first among requests', async () => {
    const { queue, started, submit, open } = heldQueue(1);
    const r0 = submit('r0', PRIORITY.request);
    const r1 = submit('r1', PRIORITY.request);
    const p0 = submit('p0', PRIORITY.prefetch);
    const s1 = submit('s1', PRIORITY.start);
    await settle();
    expect(started).toEqual(['r0:request', 'p0:prefetch', 's1:start']);
    expect(queue.preempted).toBe(1);
    open('s1');
    await s1;
    expect(started.at(-1)).toBe('r0:request'); // again, before r1 (its place in line kept)
    for (const key of ['r0', 'r1', 'p0']) open(key);
    expect(await Promise.all([r0, r1, p0])).toEqual(['r0', 'r1', 'p0']);
    expect(started).toEqual(['r0:request', 'p0:prefetch', 's1:start', 'r0:request', 'r1:request']);
  });

  it('the last-begun of several requests is the one cut (the least work lost), one per start', async () => {
    const { queue, started, submit, open } = heldQueue(2);
    const r0 = submit('r0', PRIORITY.request);
    const r1 = submit('r1', PRIORITY.request);
    const s1 = submit('s1', PRIORITY.start);
    await settle();
    expect(started).toEqual(['r0:request', 'r1:request', 's1:start']);
    expect(queue.preempted).toBe(1);
    for (const key of ['r0', 's1', 'r1']) open(key);
    await Promise.all([r0, r1, s1]);
    expect(started).toEqual(['r0:request', 'r1:request', 's1:start', 'r1:request']);
  });

  it('a running prefetch a start asks for is raised to normal priority, and counts as a start from then on', async () => {
    const { queue, lanes, started, submit, open } = heldQueue(1);
    const p0 = submit('seg1', PRIORITY.prefetch);
    const r0 = submit('r0', PRIORITY.request);
    expect(lanes[0]!.background).toBe(true);
    queue.raise('seg1', PRIORITY.start);
    expect(lanes[0]!.background).toBe(false);
    const s1 = submit('s1', PRIORITY.start); // cuts r0, not the raised prefetch (a start now)
    await settle();
    expect(started).toEqual(['seg1:prefetch', 'r0:request', 's1:start']);
    for (const key of ['seg1', 's1', 'r0']) open(key);
    await Promise.all([p0, s1, r0]);
    expect(queue.preempted).toBe(1);
  });

  it('where renice is refused, a running prefetch a start asks for is killed and run again as a start, before waiting requests', async () => {
    const { queue, started, submit, open } = heldQueue(1, { refuseRenice: true });
    const r0 = submit('r0', PRIORITY.request);
    const p0 = submit('seg1', PRIORITY.prefetch);
    const r1 = submit('r1', PRIORITY.request);
    queue.raise('seg1', PRIORITY.start);
    await settle();
    // Killed in its prefetch slot, then first in line: it cuts r0 for the request slot.
    expect(started).toEqual(['r0:request', 'seg1:prefetch', 'seg1:start']);
    expect(queue.preempted).toBe(2);
    for (const key of ['seg1', 'r0', 'r1']) open(key);
    expect(await p0).toBe('seg1');
    await Promise.all([r0, r1]);
    expect(started).toEqual(['r0:request', 'seg1:prefetch', 'seg1:start', 'r0:request', 'r1:request']);
  });
});

describe('EncodeQueue: an overloaded queue refuses a start last', () => {
  it('a start sheds waiting prefetch, then refuses waiting requests, and is refused only when only starts wait', async () => {
    const { queue, started, submit, open } = heldQueue(1, { limits: { maxWaiting: 3, maxWaitMs: Infinity } });
    const r0 = outcome(submit('r0', PRIORITY.request));
    const p0 = submit('p0', PRIORITY.prefetch);
    const p1 = outcome(submit('p1', PRIORITY.prefetch));
    const r1 = outcome(submit('r1', PRIORITY.request));
    const p2 = outcome(submit('p2', PRIORITY.prefetch));
    expect(queue.depth).toBe(3);
    // A later-segment request finds no prefetch left to shed once starts took the room: it is the one refused.
    const s1 = submit('s1', PRIORITY.start); // sheds p2, cuts r0 (back in line)
    expect(await p2).toBeInstanceOf(DroppedError);
    await settle();
    expect(queue.waitingByReason).toEqual({ start: 0, request: 2, prefetch: 1 });
    const s2 = submit('s2', PRIORITY.start); // sheds p1
    expect(await p1).toBeInstanceOf(DroppedError);
    const s3 = submit('s3', PRIORITY.start); // refuses r1, the newest waiting request
    const refusedR1 = await r1;
    expect(refusedR1).toBeInstanceOf(ServiceUnavailableError);
    expect(refusedR1).not.toBeInstanceOf(DroppedError);
    const s4 = submit('s4', PRIORITY.start); // refuses r0
    expect(await r0).toBeInstanceOf(ServiceUnavailableError);
    expect(queue.waitingByReason).toEqual({ start: 3, request: 0, prefetch: 0 });
    // Only starts wait: nothing can make room.
    await expect(submit('s5', PRIORITY.start)).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(queue.shed).toBe(2);
    expect(queue.refused).toBe(3);
    for (const key of ['s1', 's2', 's3', 's4', 'p0']) open(key);
    expect(await Promise.all([s1, s2, s3, s4, p0])).toEqual(['s1', 's2', 's3', 's4', 'p0']);
    expect(started.filter((s) => s.endsWith(':start'))).toEqual(['s1:start', 's2:start', 's3:start', 's4:start']);
  });

  it('an ordinary request on a full queue of requests is refused; a start in its place is not', async () => {
    const { submit, open } = heldQueue(1, { limits: { maxWaiting: 2, maxWaitMs: Infinity } });
    const s0 = submit('s0', PRIORITY.start);
    const r1 = submit('r1', PRIORITY.request);
    const r2 = outcome(submit('r2', PRIORITY.request));
    await expect(submit('r3', PRIORITY.request)).rejects.toBeInstanceOf(ServiceUnavailableError);
    const s1 = submit('s1', PRIORITY.start);
    expect(await r2).toBeInstanceOf(ServiceUnavailableError);
    for (const key of ['s0', 's1', 'r1']) open(key);
    expect(await Promise.all([s0, s1, r1])).toEqual(['s0', 's1', 'r1']);
  });

  it('the max-wait deadline refuses requests, never a start', async () => {
    const maxWaitMs = 20;
    // The request holding the worker is cut, but (between two processes) takes a while to give way.
    const slow = heldQueue(1, { limits: { maxWaiting: 10, maxWaitMs }, ignoreCut: true });
    const r0 = slow.submit('r0', PRIORITY.request);
    const s1 = slow.submit('s1', PRIORITY.start);
    const r1 = outcome(slow.submit('r1', PRIORITY.request));
    // Timers fire in order: by this one both deadlines have passed.
    await new Promise((r) => setTimeout(r, maxWaitMs * 5));
    expect(await r1).toBeInstanceOf(ServiceUnavailableError); // an ordinary request: refused on its deadline
    expect(slow.queue.waitingByReason.start).toBe(1); // the start: still waiting, something is making room
    slow.open('r0');
    await r0;
    expect(slow.started).toEqual(['r0:request', 's1:start']);
    slow.open('s1');
    expect(await s1).toBe('s1');

    // Every worker holds a start, prefetch waits: the second start waits too (its player's timeout decides), no 503.
    const full = heldQueue(1, { limits: { maxWaiting: 10, maxWaitMs } });
    const s0 = full.submit('s0', PRIORITY.start);
    const p0 = full.submit('p0', PRIORITY.prefetch);
    const p1 = full.submit('p1', PRIORITY.prefetch);
    const s2 = full.submit('s2', PRIORITY.start);
    await new Promise((r) => setTimeout(r, maxWaitMs * 5));
    expect(full.queue.refused).toBe(0);
    expect(full.queue.waitingByReason).toEqual({ start: 1, request: 0, prefetch: 1 });
    for (const key of ['s0', 's2', 'p0', 'p1']) full.open(key);
    expect(await Promise.all([s0, s2, p0, p1])).toEqual(['s0', 's2', 'p0', 'p1']);
    expect(full.started).toEqual(['s0:start', 'p0:prefetch', 's2:start', 'p1:prefetch']);
  });
});

describe('StartTracker: which requests are a start', () => {
  const hash = 'h'.repeat(64);
  it('inits, segment 1, a mid-stream resume and seeks are starts; linear play and ABR switches are not', () => {
    const starts = new StartTracker();
    const ask = (number: number, kind: 'video' | 'audio' = 'video', client = 'p1') => starts.isStart({ client, hash, kind, number });
    expect(ask(0)).toBe(true); // video init
    expect(ask(0, 'audio')).toBe(true);
    expect(ask(1)).toBe(true);
    expect(ask(1, 'audio')).toBe(true);
    expect(ask(2)).toBe(false);
    expect(ask(2, 'audio')).toBe(false);
    expect(ask(3)).toBe(false);
    expect(ask(0)).toBe(true); // an ABR switch: the new rendition's init…
    expect(ask(4)).toBe(false); // …and the segment after the last: playing on
    expect(ask(4)).toBe(false); // asked again (a retry, a switch that reloads it)
    expect(ask(12)).toBe(true); // a seek forward
    expect(ask(13)).toBe(false);
    expect(ask(5)).toBe(true); // a seek back
    expect(ask(1)).toBe(true); // back to the beginning
    // A player seen only by its init, then resuming at segment 12.
    expect(ask(0, 'video', 'p2')).toBe(true);
    expect(ask(12, 'video', 'p2')).toBe(true);
    // A client never seen asking a later segment (its earlier ones came from a cache): playing on.
    expect(ask(7, 'video', 'p3')).toBe(false);
    expect(ask(8, 'video', 'p3')).toBe(false);
  });
});

describe('the multivariant playlist lists first the rendition fastest to make at a sensible start quality', () => {
  const rung = (name: string, width: number, height: number, kbps: number): VideoRendition => ({
    id: `${name}-x`, name, width, height, bitrateKbps: kbps, maxrateKbps: kbps, bufsizeKbps: kbps, crf: 23, levelIdc: 40,
    codecs: 'avc1.640028', peakBandwidth: kbps * 1200, averageBandwidth: kbps * 1000,
  });
  const planWith = (renditions: VideoRendition[]) =>
    ({ renditions, audio: [], frameRates: { nominal: { num: 25, den: 1 }, maximum: { num: 25, den: 1 }, average: { num: 25, den: 1 } }, videoSegments: [] }) as unknown as Plan;
  const firstVariantUri = (playlist: string) => {
    const lines = playlist.split('\n');
    return lines[lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF:')) + 1];
  };

  it.each([
    ['the full ladder: 480p', [rung('1080p', 1920, 1080, 4000), rung('720p', 1280, 720, 2500), rung('480p', 854, 480, 1200), rung('360p', 640, 360, 800)], '480p'],
    ['no 480p rung: 720p, the smallest at least 480 lines', [rung('1080p', 1920, 1080, 4000), rung('720p', 1280, 720, 2500), rung('360p', 640, 360, 800)], '720p'],
    ['a portrait ladder counts the short side', [rung('1080p', 1080, 1920, 4000), rung('480p', 480, 854, 1200)], '480p'],
    ['all below 480 lines: the largest', [rung('360p', 640, 360, 800), rung('240p', 426, 240, 400)], '360p'],
    ['one rendition', [rung('1080p', 1920, 1080, 4000)], '1080p'],
  ])('%s', (_case, renditions, expected) => {
    const plan = planWith(renditions);
    expect(startRendition(plan).name).toBe(expected);
    const playlist = multivariantPlaylist(plan);
    expect(firstVariantUri(playlist)).toBe(videoPlaylistPath(renditions.find((r) => r.name === expected)!));
    // Every rendition is listed, once.
    const listed = playlist.split('\n').filter((l) => l.startsWith('video/'));
    expect(listed.sort()).toEqual(renditions.map(videoPlaylistPath).sort());
  });
});
