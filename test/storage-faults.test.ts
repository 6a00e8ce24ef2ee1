/**
 * A cache disk that fills: the cache directory is a 4 MB tmpfs (mounted by
 * the test; it needs root, as CI runs: with CI=true a failed mount fails the
 * test, elsewhere it is skipped with a warning). Every request is still
 * answered, nothing partial is ever kept, eviction makes room, a full disk
 * with nothing left to evict is 503 + Retry-After on every path that needs
 * the disk, and the origin recovers by itself when space returns.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readBoxes } from '../src/package/fmp4.js';
import { SegmentCache } from '../src/store/segment-cache.js';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const DISK_BYTES = 4 * 1024 * 1024;
/** CI runs as root: there a test that cannot mount must fail, never pass by skipping. */
const MUST_RUN = process.env.CI === 'true';
const mountPoint = await mkdtemp(path.join(os.tmpdir(), 'jitseg-small-disk-'));
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_BYTES}`, 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch (err) {
  console.warn(`storage-faults: cannot mount a tmpfs here (not root?)${MUST_RUN ? '' : ': skipped'}: ${(err as Error).message}`);
}

let server: TestServer | undefined;
afterAll(async () => {
  // Room first (a failed run may leave the disk full): closing writes what is pending.
  if (mounted) for (const f of await readdir(mountPoint)) if (f.startsWith('junk')) await rm(path.join(mountPoint, f));
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

/** A 503 that says when to come back. */
async function expectUnavailable(response: Response, what: string): Promise<void> {
  expect(response.status, `${what}: ${await response.clone().text()}`).toBe(503);
  expect(Number(response.headers.get('retry-after')), what).toBeGreaterThanOrEqual(1);
}

/** Files whose boxes do not reach exactly to their end (a torn write). */
async function tornFiles(root: string): Promise<string[]> {
  const torn: string[] = [];
  for (const f of await allFiles(root)) {
    if (!f.endsWith('.m4s') && !f.endsWith('init.mp4')) continue;
    const bytes = await readFile(path.join(root, f));
    const boxes = (() => {
      try {
        return readBoxes(bytes);
      } catch {
        return [];
      }
    })();
    if (boxes.at(-1)?.end !== bytes.length) torn.push(f);
  }
  return torn;
}

describe.skipIf(!mounted && !MUST_RUN)('a cache disk that fills', () => {
  it('answers every request, keeps nothing partial, evicts to make room, and recovers when space returns', async () => {
    expect(mounted, 'CI=true: this test must run (it mounts a tmpfs, which needs root)').toBe(true);
    const small = await testSource('small');
    const media = await mediaFolder({ 'clip.mp4': await testSource('browser360p'), 'new.mp4': small, 'newer.mp4': small });
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
    // (Audio: every video file is still in the origin's memory cache.)
    const audio = `${server.url}/api/v1/content/${registered.hash}/audio/${info.audio[0].id}`;
    const register = (file: string) => fetch(`${server!.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) });
    await expectUnavailable(await fetch(`${audio}/segment_3.m4s`), 'a segment');
    await expectUnavailable(await fetch(`${audio}/init.mp4`), 'an init segment');
    await expectUnavailable(await register('new.mp4'), 'a registration');
    await expectUnavailable(await fetch(`${server.url}/vod/newer.mp4/master.m3u8`), 'a /vod manifest');
    expect((await allFiles(mountPoint)).filter((f) => f.endsWith('.m4s') || f.endsWith('.tmp'))).toEqual([]);
    expect(await tornFiles(mountPoint)).toEqual([]);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);

    // Space returns: every one of those is answered (and kept) again, with no restart.
    for (const f of await readdir(mountPoint)) if (f.startsWith('junk')) await rm(path.join(mountPoint, f));
    const recovered = await fetch(`${audio}/segment_3.m4s`);
    expect(recovered.status).toBe(200);
    expect(Buffer.from(await recovered.arrayBuffer()).subarray(4, 8).toString()).toBe('styp');
    expect((await allFiles(mountPoint)).some((f) => f.startsWith(path.join(registered.hash, 'audio')) && f.endsWith('segment_3.m4s'))).toBe(true);
    expect((await fetch(`${audio}/init.mp4`)).status).toBe(200);
    expect((await register('new.mp4')).status).toBe(201);
    const master = await fetch(`${server.url}/vod/newer.mp4/master.m3u8`);
    expect(master.status).toBe(200);
    const child = (await master.text()).split('\n').find((line) => line.endsWith('.m3u8'))!;
    expect((await fetch(new URL(child, master.url))).status).toBe(200);
    expect(await tornFiles(mountPoint)).toEqual([]);
  });
});
