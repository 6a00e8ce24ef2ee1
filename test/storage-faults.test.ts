/**
 * A cache disk that fills: the cache directory is a 4 MB tmpfs (mounted by
 * the test; it needs root, as CI runs). Every request is still answered,
 * nothing partial is ever kept, eviction makes room, and the origin recovers
 * by itself when space returns.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SegmentCache } from '../src/store/segment-cache.js';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const DISK_BYTES = 4 * 1024 * 1024;
const mountPoint = await mkdtemp(path.join(os.tmpdir(), 'jitseg-small-disk-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch {
  console.warn('storage-faults: cannot mount a tmpfs here (not root?): skipped');
}

let server: TestServer | undefined;
afterAll(async () => {
  await server?.close();
  if (mounted) execFileSync('umount', [mountPoint]);
  await rm(mountPoint, { recursive: true, force: true });
});

/** Every file under the cache directory, relative. */
const allFiles = async (root: string) => (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));

/** Fills the disk to the last byte with one file. */
async function fillDisk(file: string): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 7);
  const { open } = await import('node:fs/promises');
  const handle = await open(file, 'w');
  try {
    for (;;) await handle.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close().catch(() => undefined);
  }
  // The last partial chunk: byte by byte is too slow, so halve until nothing fits.
  for (let size = chunk.length / 2; size >= 1; size /= 2) {
    await writeFile(`${file}.${size}`, chunk.subarray(0, size)).catch(() => undefined);
  }
}

describe.skipIf(!mounted)('a cache disk that fills', () => {
  it('answers every request, keeps nothing partial, evicts to make room, and recovers when space returns', async () => {
    const media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
    const storage = { ...NO_PREFETCH.storage!, ...{ retention_days: 30, dedup_enabled: true, hash_mode: 'sampled' as const, max_bytes: 1e9 } };
    server = await testServer(media, { ...NO_PREFETCH, segment_duration: 2, storage }, { cacheDir: mountPoint });
    const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
    const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
    const rendition = info.renditions[0].id;
    const base = `${server.url}/api/v1/content/${registered.hash}/video/${rendition}`;

    // Far more segments than the disk holds (the byte budget is larger than the disk).
    const served = new Map<string, Buffer>();
    for (let n = 1; n <= info.segments; n++) {
      const response = await fetch(`${base}/segment_${n}.m4s`);
      expect(response.status).toBe(200);
      const body = Buffer.from(await response.arrayBuffer());
      expect(body.subarray(4, 8).toString()).toBe('styp');
      served.set(`segment_${n}.m4s`, body);
    }
    const total = [...served.values()].reduce((sum, b) => sum + b.length, 0);
    expect(total).toBeGreaterThan(DISK_BYTES);
    const metrics = await scrape(server.url);
    expect(metricValue(metrics, 'jitseg_cache_evictions_total') + metricValue(metrics, 'jitseg_store_write_errors_total')).toBeGreaterThan(0);

    // What is on disk is whole: each stored segment is exactly what was served, and no temporary file is left.
    const files = await allFiles(mountPoint);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const kept = files.filter((f) => SegmentCache.isSegmentPath(f));
    expect(kept.length).toBeGreaterThan(0);
    for (const f of kept) expect((await readFile(path.join(mountPoint, f))).equals(served.get(path.basename(f))!)).toBe(true);

    // Someone else fills the disk to the last byte, with nothing of ours left to evict: 503 + Retry-After, nothing kept.
    await server.cache.freeSpace(Number.MAX_SAFE_INTEGER);
    await rm(path.join(mountPoint, registered.hash, 'video', rendition, 'init.mp4'));
    const junk = path.join(mountPoint, 'junk');
    await fillDisk(junk);
    // (An audio segment: every video segment is still in the origin's memory cache.)
    const audio = `${server.url}/api/v1/content/${registered.hash}/audio/${info.audio[0].id}/segment_3.m4s`;
    const full = await fetch(audio);
    expect(full.status).toBe(503);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await allFiles(mountPoint)).filter((f) => f.endsWith('.m4s') || f.endsWith('.tmp'))).toEqual([]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    // Space returns: the next request is encoded, served and cached again, with no restart.
    for (const f of await readdir(mountPoint)) if (f.startsWith('junk')) await rm(path.join(mountPoint, f));
    const recovered = await fetch(audio);
    expect(recovered.status).toBe(200);
    expect(Buffer.from(await recovered.arrayBuffer()).subarray(4, 8).toString()).toBe('styp');
    expect((await allFiles(mountPoint)).some((f) => f.startsWith(path.join(registered.hash, 'audio')) && f.endsWith('segment_3.m4s'))).toBe(true);
  });
});
