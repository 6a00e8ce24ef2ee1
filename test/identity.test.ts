/**
 * Content identity: a hash serves bytes made from the file that was hashed,
 * or nothing. A source replaced at the same path (by another clip of the same
 * geometry, so no plan check can tell), rewritten in place with its mtime set
 * back, or swapped for a symlink out of the media root, is a new content; its
 * old hash never returns a byte made from what is there now.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, open, readFile, rename, stat, symlink, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { ContentGoneError } from '../src/errors.js';
import { MediaLibrary } from '../src/library/media-library.js';
import { ContentIdIndex } from '../src/store/content-id.js';
import { ContentStore } from '../src/store/content-store.js';
import { mediaFolder, testSource } from './support/media.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';
import { contentFiles, twinClips } from './support/twin-clips.js';

const sha256 = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

let servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function origin(mediaDir: string): Promise<TestServer> {
  const server = await testServer(mediaDir, { ...NO_PREFETCH, segment_duration: 2 });
  servers.push(server);
  return server;
}

async function registerClip(server: TestServer, relative: string): Promise<{ hash: string; info: any }> {
  const response = await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: relative }) });
  expect(response.status).toBe(201);
  const { hash, urls } = await response.json();
  return { hash, info: await (await fetch(`${server.url}${urls.info}`)).json() };
}

/** Puts `source` at `target` the way tools replace files: a new file renamed over the old name. */
async function replaceByRename(source: string, target: string): Promise<void> {
  const temp = `${target}.incoming`;
  await copyFile(source, temp);
  await rename(temp, target);
}

describe('a source replaced at the same path', () => {
  it('its old hash never returns a byte made from the new file; /vod/ follows the file to its new hash', async () => {
    const { a, b } = await twinClips();
    const media = await mediaFolder({ 'clip.mp4': a });
    const server = await origin(media);
    const old = await registerClip(server, 'clip.mp4');
    expect(old.hash).toBe(await sha256(a));
    const made = `/api/v1/content/${old.hash}/video/${old.info.renditions[0].id}/segment_1.m4s`;
    expect((await fetch(`${server.url}${made}`)).status).toBe(200);

    await replaceByRename(b, path.join(media, 'clip.mp4'));

    // Every file of the old hash not made before the swap: 404, or exactly what the old file gives on a fresh origin.
    let fresh: TestServer | undefined;
    const statuses: number[] = [];
    for (const file of contentFiles(old.info).filter((f) => !f.endsWith(made) && !f.endsWith(`${old.info.renditions[0].id}/init.mp4`))) {
      const response = await fetch(`${server.url}${file}`);
      const body = Buffer.from(await response.arrayBuffer());
      statuses.push(response.status);
      if (response.status === 200) {
        if (!fresh) {
          fresh = await origin(await mediaFolder({ 'clip.mp4': a }));
          expect((await registerClip(fresh, 'clip.mp4')).hash).toBe(old.hash);
        }
        const reference = await fetch(`${fresh.url}${file}`);
        expect(reference.status).toBe(200);
        expect(body.equals(Buffer.from(await reference.arrayBuffer())), `${file} matches the old file's bytes`).toBe(true);
      } else {
        expect(response.status, file).toBe(404);
      }
    }
    // Video and audio, each an init and 4 segments, less the two files made before the swap.
    expect(statuses).toHaveLength(contentFiles(old.info).length - 2);
    expect(statuses.length).toBeGreaterThanOrEqual(8);

    // The entry point by path follows the file: a new hash, with the same plan (no plan check could have told them apart).
    const master = await fetch(`${server.url}/vod/clip.mp4/master.m3u8`);
    expect(master.status).toBe(200);
    const text = await master.text();
    const newHash = await sha256(b);
    expect(text).toContain(`/api/v1/content/${newHash}/`);
    expect(text).not.toContain(old.hash);
    const now = await (await fetch(`${server.url}/api/v1/content/${newHash}/info`)).json();
    expect(now.segmentDurations).toEqual(old.info.segmentDurations);
    expect(now.renditions.map((r: any) => r.id)).toEqual(old.info.renditions.map((r: any) => r.id));
    expect((await fetch(`${server.url}/api/v1/content/${newHash}/video/${now.renditions[0].id}/segment_2.m4s`)).status).toBe(200);
    // The old hash stays gone, for manifests too.
    expect((await fetch(`${server.url}/api/v1/content/${old.hash}/master.m3u8`)).status).toBe(404);
  });

  it('a symlink put in its place, to a file outside the media root: every uncached file of the old hash is 404', async () => {
    const { a, b } = await twinClips();
    const media = await mediaFolder({ 'clip.mp4': a });
    const outside = await mediaFolder({ 'secret.mp4': b });
    const server = await origin(media);
    const old = await registerClip(server, 'clip.mp4');
    const made = `/api/v1/content/${old.hash}/video/${old.info.renditions[0].id}/segment_1.m4s`;
    expect((await fetch(`${server.url}${made}`)).status).toBe(200);

    const link = path.join(media, 'clip.mp4.link');
    await symlink(path.join(outside, 'secret.mp4'), link);
    await rename(link, path.join(media, 'clip.mp4'));

    const uncached = contentFiles(old.info).filter((f) => !f.endsWith(made) && !f.endsWith(`${old.info.renditions[0].id}/init.mp4`));
    expect(uncached).toHaveLength(contentFiles(old.info).length - 2);
    expect(uncached.length).toBeGreaterThanOrEqual(8);
    for (const file of uncached) expect((await fetch(`${server.url}${file}`)).status, file).toBe(404);
    expect((await fetch(`${server.url}/vod/clip.mp4/master.m3u8`)).status).toBe(404);
    expect((await fetch(`${server.url}/api/v1/content/${old.hash}/info`)).status).toBe(404);
  });
});

describe('the library checks the file behind a hash', () => {
  async function library(files: Record<string, string>) {
    const media = await mediaFolder(files);
    const cache = await mkdtemp(path.join(os.tmpdir(), 'jitseg-identity-'));
    const store = new ContentStore(cache);
    await store.init();
    const ids = new ContentIdIndex(cache);
    await ids.load();
    return { media, library: new MediaLibrary(media, store, ids, { ...defaultStreamingConfig(), segment_duration: 2 }) };
  }

  it('a rewrite in place with the same size and its mtime set back is a new content (ctime); a touch is not', async () => {
    const { a } = await twinClips();
    const { media, library: lib } = await library({ 'clip.mp4': a });
    const file = path.join(media, 'clip.mp4');
    const content = await lib.register('clip.mp4');
    const hash = content.metadata.hash;

    // A touch: same bytes, so the same content.
    const later = new Date(Date.now() + 5_000);
    await utimes(file, later, later);
    await content.verifySource();
    expect((await lib.get(hash)).metadata.hash).toBe(hash);

    // Same inode, same size, same mtime, other bytes.
    const before = await stat(file);
    const handle = await open(file, 'r+');
    await handle.write(Buffer.alloc(64, 0x5a), 0, 64, Math.floor(before.size / 2));
    await handle.close();
    await utimes(file, before.atime, before.mtime);
    const after = await stat(file);
    expect([after.ino, after.size, after.mtimeMs]).toEqual([before.ino, before.size, before.mtimeMs]);

    await expect(content.verifySource()).rejects.toBeInstanceOf(ContentGoneError);
    await expect(lib.get(hash)).rejects.toBeInstanceOf(ContentGoneError);
    expect((await lib.register('clip.mp4')).metadata.hash).toBe(await sha256(file));
    await lib.close();
  });

  it('a large file (hashed by samples) rewritten in place between the samples, mtime set back, is a new content hashed whole', async () => {
    const source = await testSource('browser360p');
    const { media, library: lib } = await library({ 'big.mp4': source });
    const file = path.join(media, 'big.mp4');
    const content = await lib.register('big.mp4');
    const hash = content.metadata.hash;
    const before = await stat(file);
    // Sampled regions: 32 of 64 KiB, the i-th at floor((size - 64 KiB) * i / 31). Write between the first two.
    const region = 64 * 1024;
    const secondStart = Math.floor(((before.size - region) * 1) / 31);
    expect(secondStart - region).toBeGreaterThan(4096);
    const handle = await open(file, 'r+');
    await handle.write(Buffer.alloc(64, 0xa5), 0, 64, region + Math.floor((secondStart - region) / 2));
    await handle.close();
    await utimes(file, before.atime, before.mtime);

    await expect(content.verifySource()).rejects.toBeInstanceOf(ContentGoneError);
    await expect(lib.get(hash)).rejects.toBeInstanceOf(ContentGoneError);
    const now = await lib.register('big.mp4');
    expect(now.metadata.hash).not.toBe(hash);
    expect(now.metadata.hash).toBe(await sha256(file));
    await lib.close();
  });

  it('an encode reads the file that was hashed even when another is renamed over it meanwhile', async () => {
    const { a, b } = await twinClips();
    const { media, library: lib } = await library({ 'clip.mp4': a });
    const content = await lib.register('clip.mp4');
    const original = await readFile(a);
    const seen: Buffer[] = [];
    const work = async (sourcePath: string) => {
      await replaceByRename(b, path.join(media, 'clip.mp4'));
      seen.push(await readFile(sourcePath));
      return 'made';
    };
    // The rename drops the old file's link (its ctime moves on Linux file systems), so the result is dropped and the
    // redo finds other bytes: gone. Keeping it would be right too: it was made from the hashed bytes, checked below.
    const outcome = await content.withSource(work).catch((err: unknown) => err);
    expect(outcome === 'made' || outcome instanceof ContentGoneError, String(outcome)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.equals(original)).toBe(true);
    await lib.close();
  });

  it('no encode starts on a file swapped for a symlink out of the root, even within the lookup throttle', async () => {
    const { a, b } = await twinClips();
    const { media, library: lib } = await library({ 'clip.mp4': a });
    const outside = await mediaFolder({ 'secret.mp4': b });
    const content = await lib.register('clip.mp4');
    const link = path.join(media, 'clip.mp4.link');
    await symlink(path.join(outside, 'secret.mp4'), link);
    await rename(link, path.join(media, 'clip.mp4'));
    // Within a second of the registration a lookup does not look at the file; the encode does.
    const looked = await lib.get(content.metadata.hash);
    let called = false;
    await expect(
      looked.withSource(async () => {
        called = true;
      }),
    ).rejects.toBeInstanceOf(ContentGoneError);
    expect(called).toBe(false);
    await lib.close();
  });
});
