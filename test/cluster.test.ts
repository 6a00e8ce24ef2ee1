/**
 * Several origin instances on one real Redis: one encode per segment in the
 * whole cluster, takeover when the encoding instance is killed (kill -9),
 * no failed request while Redis is away, and a waiter that gives up after
 * max_wait_seconds. (Pre-emption across instances: test/preemption.test.ts.)
 */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { killInstance, startInstance, type Instance } from './support/instances.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const LEASE_MS = 2000;
/** The encoding instance sleeps this long before ffmpeg starts, so there is time to kill it mid-encode. */
const ENCODE_DELAY_S = 1.5;

let redis: TestRedis;
let media: string;
let work: string;

beforeAll(async () => {
  redis = await startRedis();
  media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
  work = await mkdtemp(path.join(os.tmpdir(), 'jitseg-cluster-'));
});
afterAll(async () => {
  await redis?.stop();
});

/** One origin process (the real CLI), with its own cache directory. */
async function startClusterInstance(name: string, extraEnv: Record<string, string> = {}): Promise<Instance> {
  const config = path.join(work, 'config.yaml');
  await writeFile(config, 'streaming:\n  segment_duration: 4\n  prefetch:\n    enabled: false\n  encoder:\n    preset: ultrafast\n    degrade: { enabled: false }\n');
  return startInstance(['--media', media, '--cache', path.join(work, `cache-${name}`), '--config', config, '--redis', redis.url, '--lease-ms', String(LEASE_MS)], extraEnv);
}

async function slowFfmpeg(): Promise<string> {
  const script = path.join(work, 'slow-ffmpeg.sh');
  await writeFile(script, `#!/bin/sh\nsleep ${ENCODE_DELAY_S}\nexec ffmpeg "$@"\n`);
  await chmod(script, 0o755);
  return script;
}

async function segmentUrlPath(base: string): Promise<{ hash: string; rendition: string; segments: number }> {
  const registered = await (await fetch(`${base}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
  const info = await (await fetch(`${base}${registered.urls.info}`)).json();
  return { hash: registered.hash, rendition: info.renditions[0].id, segments: info.segments };
}

const sumOver = async (urls: string[], name: string, labels: Record<string, string> = {}) =>
  (await Promise.all(urls.map(async (u) => metricValue(await scrape(u), name, labels)))).reduce((a, b) => a + b, 0);

describe('three origin processes on one Redis', () => {
  let instances: Instance[] = [];
  afterAll(async () => {
    await Promise.all(instances.map(killInstance));
  });

  it('30 concurrent requests for a cold segment, spread over them: one encode in the cluster; kill -9 of the encoder: another takes over once the lease lapses', async () => {
    const ffmpeg = await slowFfmpeg();
    instances = await Promise.all(['a', 'b', 'c'].map((n) => startClusterInstance(n, { JITSEG_FFMPEG: ffmpeg })));
    const urls = instances.map((i) => i.url);
    const { hash, rendition } = await segmentUrlPath(urls[0]!);
    await Promise.all(urls.slice(1).map((u) => segmentUrlPath(u)));
    const segment = (n: number) => `/api/v1/content/${hash}/video/${rendition}/segment_${n}.m4s`;

    // 1. The stampede: one encode, the other instances fetch it from the one that made it.
    const bodies = await Promise.all(
      Array.from({ length: 30 }, async (_, k) => {
        const response = await fetch(`${urls[k % 3]}${segment(3)}`);
        expect(response.status).toBe(200);
        return Buffer.from(await response.arrayBuffer());
      }),
    );
    for (const body of bodies) expect(body.equals(bodies[0]!)).toBe(true);
    expect(await sumOver(urls, 'jitseg_transcodes_total', { kind: 'video' })).toBe(1);
    expect(await sumOver(urls, 'jitseg_peer_fetches_total')).toBe(2);

    // 2. Kill -9 the instance that is encoding; every client still gets the segment from another one.
    const before = await Promise.all(urls.map(async (u) => metricValue(await scrape(u), 'jitseg_transcodes_total', { kind: 'video' })));
    const results = Array.from({ length: 30 }, async (_, k) => {
      // A client whose instance dies retries on the next one, as a load balancer or player does.
      for (let attempt = 0; attempt < 3; attempt++) {
        const base = urls[(k + attempt) % 3]!;
        let answer: { status: number; body: Buffer };
        try {
          const response = await fetch(`${base}${segment(5)}`);
          answer = { status: response.status, body: Buffer.from(await response.arrayBuffer()) };
        } catch (err) {
          // fetch's TypeError: the connection was reset by the killed instance. Anything else is a failure.
          if (err instanceof TypeError) continue;
          throw err;
        }
        // Every instance that answers must answer 200: a 5xx from a survivor fails the test.
        expect(answer.status, `${base} answered`).toBe(200);
        return { body: answer.body, by: base };
      }
      throw new Error('no instance delivered the segment');
    });
    let encoder: Instance | undefined;
    while (!encoder) {
      for (const instance of instances) {
        if (metricValue(await scrape(instance.url), 'jitseg_encodes_running') > 0) encoder = instance;
      }
    }
    await killInstance(encoder);
    const delivered = await Promise.all(results);
    for (const d of delivered) expect(d.body.equals(delivered[0]!.body)).toBe(true);
    expect(delivered.every((d) => d.by !== encoder!.url)).toBe(true);
    // The takeover (lease lapse, then one fresh encode) is a matter of time: not asserted here.
    const survivors = instances.filter((i) => i !== encoder);
    const after = await Promise.all(survivors.map(async (i) => metricValue(await scrape(i.url), 'jitseg_transcodes_total', { kind: 'video' })));
    const survivorsBefore = survivors.map((i) => before[instances.indexOf(i)]!);
    expect(after.reduce((a, b) => a + b, 0) - survivorsBefore.reduce((a, b) => a + b, 0)).toBe(1);
  });
});

describe('Redis going away', () => {
  let servers: TestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('no request fails while Redis is down; coordination resumes when it is back', async () => {
    servers = await Promise.all([0, 1].map(() => testServer(media, { ...NO_PREFETCH, segment_duration: 4 }, { redisUrl: redis.url, leaseMs: LEASE_MS })));
    const { hash, rendition } = await segmentUrlPath(servers[0]!.url);
    await segmentUrlPath(servers[1]!.url);
    const segment = (n: number) => `/api/v1/content/${hash}/video/${rendition}/segment_${n}.m4s`;
    const getAll = (n: number) =>
      Promise.all(servers.flatMap((s) => [0, 1, 2].map(async () => (await fetch(`${s.url}${segment(n)}`)).status)));

    expect(servers.every((s) => s.coordinator.connected)).toBe(true);
    expect(await getAll(1)).toEqual([200, 200, 200, 200, 200, 200]);

    await redis.stop();
    const whileDown = await Promise.all([getAll(2), getAll(3)]);
    expect(whileDown.flat().every((status) => status === 200)).toBe(true);
    expect(servers.every((s) => !s.coordinator.connected)).toBe(true);

    await redis.start();
    while (!servers.every((s) => s.coordinator.connected)) await new Promise((r) => setTimeout(r, 50));
    const encodedBefore = await sumOver(servers.map((s) => s.url), 'jitseg_transcodes_total', { kind: 'video' });
    expect(await getAll(4)).toEqual([200, 200, 200, 200, 200, 200]);
    expect((await sumOver(servers.map((s) => s.url), 'jitseg_transcodes_total', { kind: 'video' })) - encodedBefore).toBe(1);
  });
});

describe('instances sharing a cache directory', () => {
  it('read each other\'s segments from the shared store (one encode, no peer fetch) and hear each other\'s events', async () => {
    const first = await testServer(media, { ...NO_PREFETCH, segment_duration: 4 }, { redisUrl: redis.url, leaseMs: LEASE_MS });
    const second = await testServer(media, { ...NO_PREFETCH, segment_duration: 4 }, { redisUrl: redis.url, leaseMs: LEASE_MS, cacheDir: first.cacheDir });
    const servers = [first, second];
    try {
      const { hash, rendition } = await segmentUrlPath(first.url);
      await segmentUrlPath(second.url);
      const path = `/api/v1/content/${hash}/video/${rendition}/segment_6.m4s`;
      const bodies = await Promise.all(
        Array.from({ length: 10 }, async (_, k) => Buffer.from(await (await fetch(`${servers[k % 2]!.url}${path}`)).arrayBuffer())),
      );
      for (const body of bodies) expect(body.equals(bodies[0]!)).toBe(true);
      const urls = servers.map((s) => s.url);
      expect(await sumOver(urls, 'jitseg_transcodes_total', { kind: 'video' })).toBe(1);
      expect(await sumOver(urls, 'jitseg_peer_fetches_total')).toBe(0);

      // Events travel between instances: the second's bus hears an encode done by the first.
      const heard: Array<{ type: string; instance: string }> = [];
      const stop = second.events.subscribe((event) => heard.push(event));
      const encodeOnFirst = `/api/v1/content/${hash}/video/${rendition}/segment_7.m4s`;
      expect((await fetch(`${first.url}${encodeOnFirst}`)).status).toBe(200);
      while (!heard.some((e) => e.type === 'TranscodeCompleted')) await new Promise((r) => setTimeout(r, 20));
      stop();
      const completed = heard.find((e) => e.type === 'TranscodeCompleted');
      expect(completed?.instance).toBe(first.events.instance);
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});

/** ffmpeg behind a gate: every encode (the runs watched through pipe:3) waits until the test opens it. */
async function gatedFfmpeg(): Promise<{ path: string; open: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(work, 'gated-'));
  const [script, gateFile] = [path.join(dir, 'ffmpeg'), path.join(dir, 'gate')];
  await writeFile(script, `#!/bin/sh\ncase "$*" in *pipe:3*) while [ ! -e '${gateFile}' ]; do sleep 0.05; done ;; esac\nexec ffmpeg "$@"\n`);
  await chmod(script, 0o755);
  return { path: script, open: () => writeFile(gateFile, '') };
}

describe('a waiter on another instance', () => {
  it('gives up after max_wait_seconds with 503 + Retry-After while the lease holder still encodes', async () => {
    const ffmpeg = await gatedFfmpeg();
    const previous = process.env.JITSEG_FFMPEG;
    process.env.JITSEG_FFMPEG = ffmpeg.path;
    const streaming = { ...NO_PREFETCH, segment_duration: 4, encoder: encoderWith({ max_wait_seconds: 1, stall_timeout_seconds: 600 }) };
    const servers = await Promise.all([0, 1].map(() => testServer(media, streaming, { redisUrl: redis.url, leaseMs: LEASE_MS })));
    const commands = new Redis(redis.url);
    try {
      const [a, b] = servers as [TestServer, TestServer];
      const { hash, rendition } = await segmentUrlPath(a.url);
      await segmentUrlPath(b.url);
      const segment = `/api/v1/content/${hash}/video/${rendition}/segment_2.m4s`;
      const held = fetch(`${a.url}${segment}`); // A takes the lease; its encode waits at the gate
      while ((await commands.exists(`jitseg:lease:${hash}/video/${rendition}/segment_2.m4s`)) === 0) await new Promise((r) => setTimeout(r, 20));

      const waiter = await fetch(`${b.url}${segment}`);
      expect(waiter.status).toBe(503);
      expect(Number(waiter.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await waiter.json()).error).toBe('unavailable');

      await ffmpeg.open();
      expect((await held).status).toBe(200);
      expect((await fetch(`${b.url}${segment}`)).status).toBe(200); // from A, not encoded again
      expect(await sumOver(servers.map((s) => s.url), 'jitseg_transcodes_total', { kind: 'video' })).toBe(1);
    } finally {
      await ffmpeg.open();
      if (previous === undefined) delete process.env.JITSEG_FFMPEG;
      else process.env.JITSEG_FFMPEG = previous;
      commands.disconnect();
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
