/**
 * The content registry is shared and durable: with Redis, an instance answers
 * for content another instance registered (separate caches, nothing shared
 * but Redis and the media); and a content's record is on disk (and in Redis)
 * before the answer that names its hash, so a kill -9 right after a /vod
 * answer loses nothing. Real origin processes (the CLI), real redis-server.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killInstance, startInstance, type Instance } from './support/instances.js';
import { NO_PREFETCH, testServer } from './support/server.js';
import { mediaFolder } from './support/media.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { twinClips } from './support/twin-clips.js';

let redis: TestRedis;
let media: string;
let work: string;
let config: string;

beforeAll(async () => {
  redis = await startRedis();
  media = await mediaFolder({ 'clip.mp4': (await twinClips()).a });
  work = await mkdtemp(path.join(os.tmpdir(), 'jitseg-registry-'));
  config = path.join(work, 'config.yaml');
  await writeFile(config, 'streaming:\n  segment_duration: 2\n  prefetch:\n    enabled: false\n  encoder:\n    preset: ultrafast\n    degrade: { enabled: false }\n');
});
afterAll(async () => {
  await redis?.stop();
});

let running: Instance[] = [];
afterEach(async () => {
  await Promise.all(running.map(killInstance));
  running = [];
});

async function origin(cacheName: string, withRedis: boolean): Promise<Instance> {
  const args = ['--media', media, '--cache', path.join(work, cacheName), '--config', config, ...(withRedis ? ['--redis', redis.url] : [])];
  const instance = await startInstance(args);
  running.push(instance);
  return instance;
}

/** The URIs a playlist names (lines and URI="…" attributes), resolved against its own path. */
function urisIn(playlist: string, playlistPath: string): string[] {
  const uris = playlist.split('\n').flatMap((line) => {
    if (line.startsWith('#')) return [...line.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]!);
    return line.trim() ? [line.trim()] : [];
  });
  return uris.map((uri) => {
    const resolved = new URL(uri, `http://origin${playlistPath}`);
    return resolved.pathname + resolved.search;
  });
}

/** The master at `masterPath` on `base`: every child playlist, and each one's init and first segment, must answer 200. */
async function expectPlayable(base: string, masterPath: string): Promise<void> {
  const master = await fetch(`${base}${masterPath}`);
  expect(master.status, masterPath).toBe(200);
  const children = urisIn(await master.text(), masterPath);
  expect(children.length).toBeGreaterThanOrEqual(2);
  for (const child of children) {
    const playlist = await fetch(`${base}${child}`);
    expect(playlist.status, child).toBe(200);
    const files = urisIn(await playlist.text(), child);
    // A media playlist names its init and first segment; the thumbnail track's image playlist its first sheet.
    const wanted = child.includes('/thumbs/')
      ? [files.find((f) => f.includes('tile_1.jpg'))]
      : [files.find((f) => f.includes('init.mp4')), files.find((f) => f.includes('segment_1.'))];
    for (const file of wanted) {
      expect(file, `${child} names its first files`).toBeDefined();
      const response = await fetch(`${base}${file}`);
      expect(response.status, file).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
  }
}

describe('two instances on Redis with separate caches', () => {
  it('one answers for content only the other registered: master, child playlists, segments', async () => {
    const [a, b] = await Promise.all([origin('shared-a', true), origin('shared-b', true)]);
    const registered = await fetch(`${a.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) });
    expect(registered.status).toBe(201);
    const { hash } = await registered.json();
    await expectPlayable(b.url, `/api/v1/content/${hash}/master.m3u8`);
    expect((await fetch(`${b.url}/api/v1/content/${hash}/manifest.mpd`)).status).toBe(200);
    expect((await (await fetch(`${b.url}/api/v1/content`)).json()).items.map((i: any) => i.hash)).toContain(hash);
  });

  it('a kill -9 right after a /vod answer: the other instance and the restarted one still answer its child URLs', async () => {
    const [a, b] = await Promise.all([origin('vod-a', true), origin('vod-b', true)]);
    const vod = await fetch(`${a.url}/vod/clip.mp4/master.m3u8`);
    await killInstance(a);
    expect(vod.status).toBe(200);
    const text = await vod.text();
    const hash = /\/api\/v1\/content\/([0-9a-f]{64})\//.exec(text)![1]!;
    const masterPath = `/api/v1/content/${hash}/master.m3u8`;
    await expectPlayable(b.url, masterPath);
    const restarted = await origin('vod-a', true);
    await expectPlayable(restarted.url, masterPath);
  });
});

describe('Redis away during a registration', () => {
  it('the registering instance answers at once; the other answers 503 until Redis is back, then serves it', async () => {
    const [a, b] = await Promise.all([0, 1].map(() => testServer(media, { ...NO_PREFETCH, segment_duration: 2 }, { redisUrl: redis.url })));
    try {
      await redis.stop();
      const registered = await fetch(`${a!.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) });
      expect(registered.status).toBe(201);
      const { hash } = await registered.json();
      expect((await fetch(`${a!.url}/api/v1/content/${hash}/master.m3u8`)).status).toBe(200);
      const whileDown = await fetch(`${b!.url}/api/v1/content/${hash}/master.m3u8`);
      expect(whileDown.status).toBe(503);
      expect(whileDown.headers.get('retry-after')).not.toBeNull();

      await redis.start();
      // The record is shared when the registering instance reconnects; until then the other keeps saying 503 or 404.
      let status = 0;
      // However long the reconnect takes on this machine (the test's timeout bounds it).
      while (status !== 200) {
        status = (await fetch(`${b!.url}/api/v1/content/${hash}/master.m3u8`)).status;
        expect([200, 404, 503]).toContain(status);
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
    } finally {
      await redis.start();
      await Promise.all([a!.close(), b!.close()]);
    }
  });
});

describe('one instance without Redis', () => {
  it('a kill -9 right after a /vod answer, then a restart on the same cache: its child URLs still work', async () => {
    const first = await origin('alone', false);
    const vod = await fetch(`${first.url}/vod/clip.mp4/master.m3u8`);
    await killInstance(first);
    expect(vod.status).toBe(200);
    const masterPath = `/api/v1/content/${/\/api\/v1\/content\/([0-9a-f]{64})\//.exec(await vod.text())![1]!}/master.m3u8`;
    const restarted = await origin('alone', false);
    await expectPlayable(restarted.url, masterPath);
  });
});
