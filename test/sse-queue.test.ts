/**
 * SSE clients' queues are capped: a client that does not read is dropped
 * (its stream ends, one log line says so) once `sseQueueLimit` events wait
 * for it; a client that keeps up gets every event, in order, however many.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BoundedQueue } from '../src/http/event-queue.js';
import { eventRoutes } from '../src/http/routes/events.js';
import { EventBus } from '../src/observe/events.js';

const LIMIT = 5;

function harness() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    }),
  );
  const events = new EventBus('test');
  const app = eventRoutes({ events, logger, sseQueueLimit: LIMIT });
  const emit = (n: number) => events.emit({ type: 'ManifestUpdated', content: 'c', manifest: 'hls', segments: n });
  const dropped = () => lines.filter((l) => /SSE client dropped/.test(String(l.msg)));
  return { app, emit, dropped };
}

describe('BoundedQueue', () => {
  it('holds at most its limit, in order, and takes more once items are taken', () => {
    const queue = new BoundedQueue<number>(3);
    expect([1, 2, 3, 4].map((n) => queue.push(n))).toEqual([true, true, true, false]);
    expect(queue.length).toBe(3);
    expect(queue.shift()).toBe(1);
    expect(queue.push(5)).toBe(true);
    expect([queue.shift(), queue.shift(), queue.shift(), queue.shift()]).toEqual([2, 3, 5, undefined]);
  });

  it('stays correct across many pushes and shifts (compaction)', () => {
    const queue = new BoundedQueue<number>(10);
    const out: number[] = [];
    for (let n = 0; n < 10_000; n++) {
      expect(queue.push(n)).toBe(true);
      if (n % 2 === 1) out.push(queue.shift()!, queue.shift()!);
    }
    expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });
});

describe('SSE queue cap', () => {
  it('drops a client that does not read once the cap is passed, ending its stream, with one log line', async () => {
    const { app, emit, dropped } = harness();
    const response = await app.request('/api/v1/events');
    expect(response.status).toBe(200);
    for (let n = 1; n <= LIMIT; n++) emit(n);
    expect(dropped()).toHaveLength(0);
    emit(LIMIT + 1);
    expect(dropped()).toHaveLength(1);
    expect(dropped()[0]).toMatchObject({ limit: LIMIT, queued: LIMIT });
    // The stream ends (the client may reconnect); it does not hang on the writes it never read.
    await response.text();
    emit(LIMIT + 2);
    expect(dropped()).toHaveLength(1);
  });

  it('a client that keeps up gets every event in order, far more than the cap', async () => {
    const { app, emit, dropped } = harness();
    const response = await app.request('/api/v1/events');
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    const received: number[] = [];
    let buffered = '';
    const readUntil = async (count: number) => {
      while (received.length < count) {
        const { done, value } = await reader.read();
        expect(done).toBe(false);
        buffered += decoder.decode(value, { stream: true });
        // Only complete blocks (up to the last blank line): a read may end mid-event.
        const complete = buffered.lastIndexOf('\n\n');
        if (complete < 0) continue;
        for (const m of buffered.slice(0, complete).matchAll(/^data: (.*)$/gm)) received.push(JSON.parse(m[1]!).segments);
        buffered = buffered.slice(complete + 2);
      }
    };
    let sent = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < LIMIT; i++) emit(++sent);
      await readUntil(sent);
    }
    await reader.cancel();
    expect(received).toEqual(Array.from({ length: 20 * LIMIT }, (_, i) => i + 1));
    expect(dropped()).toHaveLength(0);
  });
});
