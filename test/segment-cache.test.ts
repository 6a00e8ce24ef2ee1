/**
 * The disk store's byte budget: least recently used segments are deleted,
 * the order survives a restart, old segments expire, and a whole origin with
 * a budget of a few MB stays under it while serving a long run of requests.
 */
import { mkdir, mkdtemp, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SegmentCache, parseByteSize } from '../src/store/segment-cache.js';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { NO_PREFETCH, testServer } from './support/server.js';

const HASH = 'a'.repeat(64);

async function storeWith(files: Record<string, number>): Promise<{ root: string; file: (name: string) => string }> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'jitseg-lru-'));
  const file = (name: string) => path.join(root, HASH, 'video', 'r1', name);
  await mkdir(path.dirname(file('x')), { recursive: true });
  for (const [name, size] of Object.entries(files)) await writeFile(file(name), Buffer.alloc(size));
  return { root, file };
}

const exists = (p: string) => stat(p).then(() => true, () => false);
const settle = () => new Promise((r) => setTimeout(r, 50));

/** Bytes of every segment file under a cache directory. */
async function segmentBytes(root: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const relative = path.relative(root, path.join(entry.parentPath, entry.name));
    if (entry.isFile() && SegmentCache.isSegmentPath(relative)) total += (await stat(path.join(root, relative))).size;
  }
  return total;
}

describe('SegmentCache', () => {
  it('deletes the least recently used segments when a new one exceeds the budget', async () => {
    const { root, file } = await storeWith({ 'segment_1.m4s': 400, 'segment_2.m4s': 400, 'init.mp4': 900 });
    const cache = new SegmentCache(root, { maxBytes: 1000, retentionMs: 0 });
    await cache.load();
    expect(cache.count).toBe(2); // the init segment is not the LRU's
    cache.touch(file('segment_1.m4s'), 400); // now 2 is the least recently used
    await writeFile(file('segment_3.m4s'), Buffer.alloc(400));
    cache.add(file('segment_3.m4s'), 400);
    await settle();
    expect(await exists(file('segment_2.m4s'))).toBe(false);
    expect(await exists(file('segment_1.m4s'))).toBe(true);
    expect(await exists(file('segment_3.m4s'))).toBe(true);
    expect(await exists(file('init.mp4'))).toBe(true);
    expect(cache.bytes).toBe(800);
    expect(cache.evictionCount).toBe(1);
    await cache.close();
  });

  it('keeps its order across a restart (snapshot + listing), learns unknown files, forgets vanished ones', async () => {
    const { root, file } = await storeWith({ 'segment_1.m4s': 300, 'segment_2.m4s': 300, 'segment_3.m4s': 300 });
    const first = new SegmentCache(root, { maxBytes: 10_000, retentionMs: 0 });
    await first.load();
    first.touch(file('segment_1.m4s'), 300); // order, oldest first: 2, 3, 1
    await first.close();
    await writeFile(file('segment_4.m4s'), Buffer.alloc(300)); // written by someone else after the snapshot
    await utimes(file('segment_4.m4s'), new Date(0), new Date(0)); // … long ago
    const { rm } = await import('node:fs/promises');
    await rm(file('segment_3.m4s'));

    const second = new SegmentCache(root, { maxBytes: 500, retentionMs: 0 });
    // Budget 500 for 900 bytes: loading evicts the two oldest (4 by its mtime, then 2).
    await second.load();
    await settle();
    expect(await exists(file('segment_4.m4s'))).toBe(false);
    expect(await exists(file('segment_2.m4s'))).toBe(false);
    expect(await exists(file('segment_1.m4s'))).toBe(true);
    expect(second.count).toBe(1);
    await second.close();
  });

  it('versions each content\'s part of the index: a segment that enters or leaves it changes its content\'s version only', async () => {
    const { root, file } = await storeWith({ 'segment_1.m4s': 400, 'segment_2.m4s': 400 });
    const other = 'b'.repeat(64);
    const cache = new SegmentCache(root, { maxBytes: 1000, retentionMs: 0 });
    await cache.load();
    const seen = [cache.versionOf(HASH)];
    expect(cache.versionOf(other)).toBe(0);
    cache.touch(file('segment_1.m4s'), 400); // already indexed: nothing entered
    expect(cache.versionOf(HASH)).toBe(seen[0]);
    await writeFile(file('segment_3.m4s'), Buffer.alloc(400));
    cache.add(file('segment_3.m4s'), 400); // enters, and evicts segment_2
    expect(cache.versionOf(HASH)).not.toBe(seen[0]);
    seen.push(cache.versionOf(HASH));
    cache.forget(file('segment_1.m4s'));
    expect(cache.versionOf(HASH)).not.toBe(seen[1]);
    expect(cache.versionOf(other)).toBe(0);
    await cache.close();
  });

  it('drops segments unused for longer than the retention', async () => {
    const { root, file } = await storeWith({ 'segment_1.m4s': 100, 'segment_2.m4s': 100 });
    await utimes(file('segment_1.m4s'), new Date(Date.now() - 3 * 86_400_000), new Date(Date.now() - 3 * 86_400_000));
    const cache = new SegmentCache(root, { maxBytes: 10_000, retentionMs: 2 * 86_400_000 });
    await cache.load();
    expect(await exists(file('segment_1.m4s'))).toBe(false);
    expect(await exists(file('segment_2.m4s'))).toBe(true);
    await cache.close();
  });

  it('reads sizes as people write them', () => {
    expect(parseByteSize('2GB')).toBe(2e9);
    expect(parseByteSize('500 MiB')).toBe(500 * 2 ** 20);
    expect(parseByteSize('1.5G')).toBe(1.5e9);
    expect(parseByteSize(1234)).toBe(1234);
    expect(parseByteSize('lots')).toBeUndefined();
    expect(parseByteSize('-5MB')).toBeUndefined();
  });
});

describe('an origin with a cache of a few MB', () => {
  it('stays under the limit over a long run, re-encodes evicted segments on demand, serves the rest after a restart without encoding', async () => {
    const LIMIT = 1_500_000;
    const media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
    const streaming = { ...NO_PREFETCH, segment_duration: 2, storage: { retention_days: 30, dedup_enabled: true, hash_mode: 'sampled' as const, max_bytes: LIMIT } };
    const server = await testServer(media, streaming);
    const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
    const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
    const url = (r: { id: string }, n: number) => `${server.url}/api/v1/content/${registered.hash}/video/${r.id}/segment_${n}.m4s`;
    let served = 0;
    try {
      for (const rendition of info.renditions) {
        for (let n = 1; n <= info.segments; n++) {
          const response = await fetch(url(rendition, n));
          expect(response.status).toBe(200);
          served += (await response.arrayBuffer()).byteLength;
          await settle();
          expect(await segmentBytes(server.cacheDir)).toBeLessThanOrEqual(LIMIT);
        }
      }
      // The run was far larger than the budget, so segments were evicted.
      expect(served).toBeGreaterThan(2 * LIMIT);
      const metrics = await scrape(server.url);
      expect(metricValue(metrics, 'jitseg_cache_evictions_total')).toBeGreaterThan(0);
      expect(metricValue(metrics, 'jitseg_cache_bytes')).toBeLessThanOrEqual(LIMIT);
    } finally {
      await server.close();
    }

    // After a restart every segment still on disk is served with no encode.
    const onDisk = (await readdir(server.cacheDir, { recursive: true }))
      .map((p) => path.relative(server.cacheDir, path.join(server.cacheDir, p)))
      .filter((p) => SegmentCache.isSegmentPath(p));
    expect(onDisk.length).toBeGreaterThan(2);
    const restarted = await testServer(media, streaming, { cacheDir: server.cacheDir });
    try {
      expect(restarted.cache.count).toBe(onDisk.length);
      for (const relative of onDisk) {
        const [hash, kind, rendition, file] = relative.split(path.sep);
        expect((await fetch(`${restarted.url}/api/v1/content/${hash}/${kind}/${rendition}/${file}`)).status).toBe(200);
      }
      expect(metricValue(await scrape(restarted.url), 'jitseg_transcodes_total')).toBe(0);

      // The first segment was evicted long ago: asked again, it is encoded again.
      const first = `${registered.hash}/video/${info.renditions[0].id}/segment_1.m4s`;
      expect(onDisk).not.toContain(first.split('/').join(path.sep));
      const response = await fetch(`${restarted.url}/api/v1/content/${first}`);
      expect(response.status).toBe(200);
      expect(metricValue(await scrape(restarted.url), 'jitseg_transcodes_total')).toBe(1);
    } finally {
      await restarted.close();
    }
  });
});
