/**
 * Overload: a bounded encode queue that sheds prefetch first, refuses what it
 * cannot start in time with 503 + Retry-After, shares workers fairly between
 * clients, and a health endpoint that answers while every worker is busy
 * (proven by order: the encodes are held at a gate until it has answered).
 */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../src/coordinate/circuit-breaker.js';
import { DroppedError, EncodeQueue, PRIORITY } from '../src/coordinate/encode-queue.js';
import { ServiceUnavailableError } from '../src/errors.js';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { encoderWith, NO_PREFETCH, testServer } from './support/server.js';

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
};

describe('EncodeQueue limits', () => {
  it('when full: sheds waiting prefetch for a request, sheds new prefetch, refuses a request with nothing to displace', async () => {
    const queue = new EncodeQueue(1, { maxWaiting: 2, maxWaitMs: Infinity });
    const hold = gate();
    const running = queue.run('busy', () => hold.opened, { priority: PRIORITY.request });
    const prefetching = queue.run('prefetching', () => hold.opened, { priority: PRIORITY.prefetch }); // the prefetch slot
    const p1 = queue.run('p1', async () => 'p1', { priority: PRIORITY.prefetch });
    const p2 = queue.run('p2', async () => 'p2', { priority: PRIORITY.prefetch });
    const r1 = queue.run('r1', async () => 'r1', { priority: PRIORITY.request }); // sheds p2 (the newest prefetch)
    await expect(p2).rejects.toBeInstanceOf(DroppedError);
    await expect(queue.run('p3', async () => 'p3', { priority: PRIORITY.prefetch })).rejects.toBeInstanceOf(DroppedError);
    const r2 = queue.run('r2', async () => 'r2', { priority: PRIORITY.request }); // sheds p1
    await expect(p1).rejects.toBeInstanceOf(DroppedError);
    await expect(queue.run('r3', async () => 'r3', { priority: PRIORITY.request })).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(queue.shed).toBe(3);
    expect(queue.refused).toBe(1);
    hold.open();
    expect(await Promise.all([running, prefetching, r1, r2])).toEqual([undefined, undefined, 'r1', 'r2']);
  });

  it('refuses a request that cannot start in time', async () => {
    const queue = new EncodeQueue(1, { maxWaiting: 10, maxWaitMs: 100 });
    const hold = gate();
    const running = queue.run('busy', () => hold.opened, { priority: PRIORITY.request });
    // The worker stays busy until after the refusal: only the deadline can end this wait.
    await expect(queue.run('late', async () => 'late', { priority: PRIORITY.request })).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(queue.depth).toBe(0);
    expect(queue.refused).toBe(1);
    hold.open();
    await running;
  });

  it('refuses in time a waiting prefetch that a player asks for (raised to a request) when no worker frees up', async () => {
    const queue = new EncodeQueue(1, { maxWaiting: 10, maxWaitMs: 100, prefetchWorkers: 1 });
    const hold = gate();
    const request = queue.run('busy', () => hold.opened, { priority: PRIORITY.request });
    const prefetch = queue.run('ahead', () => hold.opened, { priority: PRIORITY.prefetch });
    const waiting = queue.run('wanted', async () => 'made', { priority: PRIORITY.prefetch });
    expect(queue.depth).toBe(1);
    queue.raise('wanted', PRIORITY.request);
    // Both slots stay busy until after the refusal: only the deadline armed by the raise can end this wait.
    await expect(waiting).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(queue.depth).toBe(0);
    hold.open();
    await Promise.all([request, prefetch]);
  });

  it('does not let one client take every worker while another waits', async () => {
    const queue = new EncodeQueue(2, { maxWaiting: 100, maxWaitMs: Infinity });
    const order: string[] = [];
    const holds = new Map<string, ReturnType<typeof gate>>();
    const submit = (client: string, n: number) => {
      const key = `${client}${n}`;
      holds.set(key, gate());
      return queue.run(key, async () => {
        order.push(key);
        await holds.get(key)!.opened;
      }, { priority: PRIORITY.request, client });
    };
    const all = [submit('a', 1), submit('a', 2), submit('a', 3), submit('a', 4), submit('b', 1)];
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['a1', 'a2']);
    holds.get('a1')!.open();
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['a1', 'a2', 'b1']); // b goes before a's third
    for (const h of holds.values()) h.open();
    await Promise.all(all);
    expect(order).toEqual(['a1', 'a2', 'b1', 'a3', 'a4']);
  });
});

describe('CircuitBreaker', () => {
  it('opens after 3 failures, lets one trial through after the cool-down, doubles it when the trial fails, closes on success', () => {
    let now = 0;
    const breaker = new CircuitBreaker({ failuresToOpen: 3, openMs: 1000, maxOpenMs: 3000 }, () => now);
    const refused = (f: () => void) => expect(f).toThrow(ServiceUnavailableError);
    for (let i = 0; i < 2; i++) breaker.failed('c');
    breaker.assertNotOpen('c'); // two failures: still closed
    breaker.failed('c');
    refused(() => breaker.assertNotOpen('c'));
    breaker.assertNotOpen('other'); // per content
    now = 1001;
    breaker.admit('c'); // the half-open trial
    refused(() => breaker.admit('c')); // only one at a time
    breaker.failed('c'); // the trial failed: open for twice as long
    now = 2500;
    refused(() => breaker.assertNotOpen('c'));
    now = 3002;
    breaker.admit('c');
    breaker.succeeded('c');
    breaker.admit('c');
    breaker.admit('c'); // closed: no limit
  });
});

/** ffmpeg behind a gate: every encode (the runs watched through pipe:3) waits until the test opens it. */
async function gatedFfmpeg(): Promise<{ path: string; open: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-overload-'));
  const [script, gateFile] = [path.join(dir, 'ffmpeg'), path.join(dir, 'gate')];
  await writeFile(script, `#!/bin/sh\ncase "$*" in *pipe:3*) while [ ! -e '${gateFile}' ]; do sleep 0.05; done ;; esac\nexec ffmpeg "$@"\n`);
  await chmod(script, 0o755);
  return { path: script, open: () => writeFile(gateFile, '') };
}

describe('an origin flooded with cold requests', () => {
  it('answers every accepted request, refuses the excess at once with 503 + Retry-After, and answers /healthz while the encodes are held', async () => {
    const media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
    const ffmpeg = await gatedFfmpeg();
    const previous = process.env.JITSEG_FFMPEG;
    process.env.JITSEG_FFMPEG = ffmpeg.path;
    // A held encode reports no progress: a stall timeout longer than the test.
    const server = await testServer(media, { ...NO_PREFETCH, segment_duration: 2, encoder: encoderWith({ workers: 1, max_queue: 3, max_wait_seconds: 600, stall_timeout_seconds: 600 }) });
    try {
      const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
      const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
      const video = `${server.url}/api/v1/content/${registered.hash}/video/${info.renditions[0].id}`;

      const answered: Array<{ status: number; retryAfter: string | null; body: Buffer }> = [];
      const flood = Array.from({ length: 20 }, async (_, i) => {
        const response = await fetch(`${video}/segment_${i + 1}.m4s`);
        const answer = { status: response.status, retryAfter: response.headers.get('retry-after'), body: Buffer.from(await response.arrayBuffer()) };
        answered.push(answer);
        return answer;
      });
      // One worker and three places in the queue: the other sixteen are refused while the four are held at the gate.
      while (answered.length < 16) await new Promise((r) => setTimeout(r, 20));
      expect(answered.every((a) => a.status === 503)).toBe(true);
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      const detail = await (await fetch(`${server.url}/api/v1/health`)).json();
      expect(detail.queue).toMatchObject({ running: 1, waiting: 3 });
      expect(answered.length).toBe(16); // the health answers came before any accepted segment
      await ffmpeg.open();
      const responses = await Promise.all(flood);

      const ok = responses.filter((r) => r.status === 200);
      const refused = responses.filter((r) => r.status === 503);
      expect(ok.length).toBe(4);
      expect(refused.length).toBe(16);
      for (const r of refused) {
        expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(JSON.parse(r.body.toString()).error).toBe('unavailable');
      }
      for (const r of ok) expect(r.body.subarray(4, 8).toString()).toBe('styp');
      const metrics = await scrape(server.url);
      expect(metricValue(metrics, 'jitseg_requests_refused_total')).toBe(refused.length);
      // Refused requests were never encoded, and come through once the flood is over.
      expect(metricValue(metrics, 'jitseg_transcodes_total')).toBe(ok.length);
      const retried = responses.findIndex((r) => r.status === 503);
      expect((await fetch(`${video}/segment_${retried + 1}.m4s`)).status).toBe(200);
    } finally {
      await ffmpeg.open();
      if (previous === undefined) delete process.env.JITSEG_FFMPEG;
      else process.env.JITSEG_FFMPEG = previous;
      await server.close();
    }
  });
});
