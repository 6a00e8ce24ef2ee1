import { copyFile, readFile, readdir, symlink, truncate, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, mediaFolder, testSource } from './support/media.js';
import { testServer } from './support/server.js';

/** The REST API's contract: endpoints, HTTP caching semantics, CORS, and every error as JSON. */

let server: Awaited<ReturnType<typeof testServer>>;
let mediaDir: string;
let hash: string;
let info: any;

beforeAll(async () => {
  const small = await testSource('small');
  mediaDir = await mediaFolder({ 'small.mp4': small, 'nested/dir/again.mp4': small });
  await writeFile(path.join(mediaDir, 'notes.mp4'), 'this is not a video at all\n'.repeat(50));
  await writeFile(path.join(mediaDir, 'noise.mkv'), randomBytes(50_000));
  await symlink('/etc/hostname', path.join(mediaDir, 'escape.mp4'));
  // A file whose moov is intact but whose media data is cut short: it probes, but its later segments cannot be encoded.
  await copyFile(small, path.join(mediaDir, 'truncated.mp4'));
  await truncate(path.join(mediaDir, 'truncated.mp4'), 40_000);
  server = await testServer(mediaDir);
  const response = await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'small.mp4' }) });
  expect(response.status).toBe(201);
  const registered = await response.json();
  hash = registered.hash;
  info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
});

afterAll(async () => {
  await server?.close();
});

const get = (p: string, init?: RequestInit) => fetch(`${server.url}${p}`, init);

async function expectJsonError(response: Response, status: number) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/application\/json/);
  expect(response.headers.get('access-control-allow-origin')).toBe('*');
  const body = await response.json();
  expect(typeof body.error).toBe('string');
  expect(typeof body.message).toBe('string');
  expect(body.message.length).toBeGreaterThan(0);
  return body;
}

describe('content endpoints', () => {
  it('registers, lists and describes content by its SHA-256 hash', async () => {
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    // Small files are hashed whole, so the id is the file's plain SHA-256.
    const { stdout } = await exec('sha256sum', [path.join(mediaDir, 'small.mp4')]);
    expect(stdout.split(' ')[0]).toBe(hash);
    const list = await (await get('/api/v1/content')).json();
    expect(list.items.map((i: any) => i.hash)).toContain(hash);
    const meta = await (await get(`/api/v1/content/${hash}`)).json();
    expect(meta).toMatchObject({ path: 'small.mp4', video: { width: 320, height: 240 } });
    expect(info.renditions).toHaveLength(1);
    expect(info.segments).toBeGreaterThan(1);
  });

  it('the same bytes at another path are the same content', async () => {
    const again = await (await get('/api/v1/content', { method: 'POST', body: JSON.stringify({ path: 'nested/dir/again.mp4' }) })).json();
    expect(again.hash).toBe(hash);
  });

  it('serves manifests with their content types and CORS', async () => {
    const master = await get(`/api/v1/content/${hash}/master.m3u8`);
    expect(master.status).toBe(200);
    expect(master.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(master.headers.get('access-control-allow-origin')).toBe('*');
    const mpd = await get(`/vod/nested/dir/again.mp4/manifest.mpd`);
    expect(mpd.status).toBe(200);
    expect(mpd.headers.get('content-type')).toBe('application/dash+xml');
    expect(mpd.headers.get('cache-control')).toMatch(/max-age=10\b/);
    expect(await mpd.text()).toContain(`<BaseURL>/api/v1/content/${hash}/</BaseURL>`);
  });
});

describe('segments over HTTP', () => {
  const segmentPath = () => `/api/v1/content/${hash}/video/${info.renditions[0].id}/segment_2.m4s`;

  it('are immutable, typed, sized and tagged', async () => {
    const response = await get(segmentPath());
    expect(response.status).toBe(200);
    const body = Buffer.from(await response.arrayBuffer());
    expect(response.headers.get('content-type')).toBe('video/mp4');
    expect(response.headers.get('content-length')).toBe(String(body.length));
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(response.headers.get('etag')).toMatch(/^"[^"]+"$/);
    const init = await get(`/api/v1/content/${hash}/audio/${info.audio[0].id}/init.mp4`);
    expect(init.status).toBe(200);
    expect(init.headers.get('content-type')).toBe('audio/mp4');
  });

  it('answers HEAD with the headers and no body', async () => {
    const full = await get(segmentPath());
    const length = (await full.arrayBuffer()).byteLength;
    const head = await get(segmentPath(), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('honours If-None-Match with 304', async () => {
    const etag = (await get(segmentPath())).headers.get('etag')!;
    const response = await get(segmentPath(), { headers: { 'If-None-Match': etag } });
    expect(response.status).toBe(304);
    expect(response.headers.get('etag')).toBe(etag);
  });

  it('serves byte ranges with 206 and CORS, and 416 for unsatisfiable ones', async () => {
    const full = Buffer.from(await (await get(segmentPath())).arrayBuffer());
    const partial = await get(segmentPath(), { headers: { Range: 'bytes=100-199' } });
    expect(partial.status).toBe(206);
    expect(partial.headers.get('content-range')).toBe(`bytes 100-199/${full.length}`);
    expect(partial.headers.get('access-control-allow-origin')).toBe('*');
    expect(Buffer.from(await partial.arrayBuffer()).equals(full.subarray(100, 200))).toBe(true);
    const suffix = await get(segmentPath(), { headers: { Range: 'bytes=-50' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(full.subarray(full.length - 50))).toBe(true);
    const beyond = await get(segmentPath(), { headers: { Range: `bytes=${full.length}-` } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${full.length}`);
  });

  it('answers CORS preflight', async () => {
    const response = await get(segmentPath(), { method: 'OPTIONS', headers: { Origin: 'http://player.test', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' } });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    expect(response.headers.get('access-control-allow-headers')).toMatch(/range/i);
  });
});

describe('errors', () => {
  it('unknown or malformed hash → 404 JSON', async () => {
    await expectJsonError(await get(`/api/v1/content/${'0'.repeat(64)}/master.m3u8`), 404);
    await expectJsonError(await get('/api/v1/content/not-a-hash'), 404);
  });

  it('paths outside the media root → 400, without opening them', async () => {
    for (const bad of ['../etc/passwd', '/etc/passwd', 'a/../../etc/passwd', 'small.mp4\0.txt', '.\\..\\x']) {
      await expectJsonError(await get('/api/v1/content', { method: 'POST', body: JSON.stringify({ path: bad }) }), 400);
    }
    await expectJsonError(await get('/vod/..%2F..%2Fetc%2Fpasswd/master.m3u8'), 400);
    // WHATWG URL parsing folds %2e%2e dot-segments before routing: that request never reaches /vod (404).
    const dotted = await get('/vod/%2e%2e/%2e%2e/etc/passwd/master.m3u8');
    expect([400, 404]).toContain(dotted.status);
    await expectJsonError(dotted, dotted.status);
    await expectJsonError(await get('/vod/a/%2e%2e%2f%2e%2e%2fetc/passwd/master.m3u8'), 400);
    await expectJsonError(await get('/vod/%2Fetc%2Fpasswd/master.m3u8'), 400);
  });

  it('a symlink that escapes the root, or a missing file → 404', async () => {
    await expectJsonError(await get('/vod/escape.mp4/master.m3u8'), 404);
    await expectJsonError(await get('/vod/missing.mp4/master.m3u8'), 404);
  });

  it('a file that is not a playable video → 415 with the reason', async () => {
    const notes = await expectJsonError(await get('/vod/notes.mp4/master.m3u8'), 415);
    expect(notes.error).toBe('unsupported_media');
    await expectJsonError(await get('/vod/noise.mkv/manifest.mpd'), 415);
  });

  it('rendition, segment or file out of range → 404', async () => {
    const base = `/api/v1/content/${hash}`;
    await expectJsonError(await get(`${base}/video/nope-123/segment_1.m4s`), 404);
    await expectJsonError(await get(`${base}/video/${info.renditions[0].id}/segment_${info.segments + 1}.m4s`), 404);
    await expectJsonError(await get(`${base}/video/${info.renditions[0].id}/segment_0.m4s`), 404);
    await expectJsonError(await get(`${base}/video/${info.renditions[0].id}/whatever.txt`), 404);
    await expectJsonError(await get(`${base}/subtitles/${info.renditions[0].id}/segment_1.m4s`), 404);
    await expectJsonError(await get('/vod/small.mp4/other.txt'), 404);
  });

  it('bad JSON bodies → 400', async () => {
    await expectJsonError(await get('/api/v1/content', { method: 'POST', body: '{nope' }), 400);
    await expectJsonError(await get('/api/v1/content', { method: 'POST', body: JSON.stringify({ path: 42 }) }), 400);
  });

  it('a failed encode → 502 with a short reason, never a 200 with a broken body; the server stays up', async () => {
    const registered = await (await get('/api/v1/content', { method: 'POST', body: JSON.stringify({ path: 'truncated.mp4' }) })).json();
    const detail = await (await get(registered.urls.info)).json();
    const last = `/api/v1/content/${registered.hash}/video/${detail.renditions[0].id}/segment_${detail.segments}.m4s`;
    const body = await expectJsonError(await get(last), 502);
    expect(body.error).toBe('encode_failed');
    expect(body.message).toMatch(/no decodable video/);
    expect((await get('/healthz')).status).toBe(200);
    // Nothing partial was cached: asking again fails the same way.
    await expectJsonError(await get(last), 502);
    // The tools' output is kept beside the content.
    const logFile = path.join(server.cacheDir, registered.hash, 'logs', `video-${detail.renditions[0].id}-${detail.segments}.log`);
    const log = await readFile(logFile, 'utf8');
    expect(log).toMatch(/attempt 1/);
    expect(log).toMatch(/attempt 3/);
    expect(log.length).toBeGreaterThan(100);
    const segmentFiles = await readdir(path.join(server.cacheDir, registered.hash, 'video', detail.renditions[0].id)).catch(() => [] as string[]);
    expect(segmentFiles.filter((f) => f.startsWith('segment_'))).not.toContain(`segment_${detail.segments}.m4s`);
  });
});

describe('library', () => {
  it("lists every file; a bad file's reason names it but no local path", async () => {
    const response = await get('/api/v1/library');
    expect(response.status).toBe(200);
    const { items } = await response.json();
    const noise = items.find((i: any) => i.path === 'noise.mkv');
    expect(noise.error).toMatch(/noise\.mkv/);
    for (const item of items.filter((i: any) => i.error)) {
      expect(item.error).not.toContain(mediaDir);
      expect(item.error).not.toMatch(/(^|[\s:'"])\/(tmp|home|srv|var)\//);
      expect(item.error).not.toMatch(/file:\//);
    }
  });
});

describe('health', () => {
  it('GET /healthz answers 200 when ready', async () => {
    const response = await get('/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
