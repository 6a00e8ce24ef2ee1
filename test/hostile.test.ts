/**
 * Hostile input: bad requests and malformed or crafted media files, each
 * with the exact status it must get (always a JSON reason), nothing cached,
 * the server serving others throughout; and a playlist posing as a video
 * that must never make ffmpeg open another file or the network.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, mediaFolder, testSource } from './support/media.js';
import { rawRequest } from './support/raw-http.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';

let server: TestServer;
let media: string;
let hash: string;
let video: string;
let audio: string;
/** A TCP listener that counts connections: any would mean a source made ffmpeg reach the network. */
let trap: Server;
let trapPort: number;
let trapConnections = 0;

beforeAll(async () => {
  trap = createServer((socket) => {
    trapConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  trapPort = (trap.address() as { port: number }).port;

  const real = await testSource('small');
  media = await mediaFolder({ 'clip.mp4': real });
  const file = (name: string, data: string | Uint8Array) => writeFile(path.join(media, name), data);
  await file('empty.mp4', '');
  await file('text.mp4', 'This is not a video, just some text.\n'.repeat(50));
  // Noise, but the same noise every run (random bytes could, once in a long while, look like a raw stream).
  const noise: Buffer[] = [];
  for (let block = createHash('sha256').update('jitseg').digest(); noise.length < 2048; block = createHash('sha256').update(block).digest()) noise.push(block);
  await file('garbage.mp4', Buffer.concat(noise));
  const realBytes = await (await import('node:fs/promises')).readFile(real);
  await file('truncated.mp4', realBytes.subarray(0, 4096));
  await file('headless.mp4', realBytes.subarray(realBytes.length >> 1));
  await file('playlist.mp4', `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${real}\n#EXTINF:10,\nhttp://127.0.0.1:${trapPort}/seg.ts\n#EXT-X-ENDLIST\n`);
  await file('playlist-remote.mkv', `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:${trapPort}/seg.ts\n#EXT-X-ENDLIST\n`);
  await file('concat.mp4', `ffconcat version 1.0\nfile '${real}'\nfile 'http://127.0.0.1:${trapPort}/b.mp4'\n`);
  await file('stream.sdp.mp4', `v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video ${trapPort} RTP/AVP 96\na=rtpmap:96 H264/90000\n`);
  await file('manifest.mp4', `<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S"><Period><AdaptationSet><Representation id="1" bandwidth="1"><BaseURL>http://127.0.0.1:${trapPort}/v.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>`);
  await exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x64', '-frames:v', '1', '-f', 'image2', '-c:v', 'png', path.join(media, 'image.mp4')]);
  await exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=duration=2', '-c:a', 'aac', path.join(media, 'audio-only.mp4')]);
  await mkdir(path.join(media, 'folder.mp4'));

  server = await testServer(media, NO_PREFETCH);
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  hash = registered.hash;
  video = info.renditions[0].id;
  audio = info.audio[0].id;
});
afterAll(async () => {
  await server?.close();
  await new Promise((r) => trap?.close(r));
});

interface Case {
  name: string;
  path: string | (() => string);
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  status: number;
}

const content = (rest: string) => () => `/api/v1/content/${hash}/${rest}`;
const segment = (file: string) => () => `/api/v1/content/${hash}/video/${video}/${file}`;

const BAD_REQUESTS: Case[] = [
  { name: 'hash that is not hex', path: '/api/v1/content/zzzz/master.m3u8', status: 404 },
  { name: 'unknown hash', path: `/api/v1/content/${'0'.repeat(64)}/master.m3u8`, status: 404 },
  { name: 'hash in upper case', path: () => `/api/v1/content/${hash.toUpperCase()}/master.m3u8`, status: 404 },
  { name: 'hash with an encoded NUL', path: () => `/api/v1/content/${hash}%00/master.m3u8`, status: 404 },
  { name: 'hash too long', path: () => `/api/v1/content/${hash}${hash}/info`, status: 404 },
  { name: 'segment 0', path: segment('segment_0.m4s'), status: 404 },
  { name: 'negative segment', path: segment('segment_-1.m4s'), status: 404 },
  { name: 'huge segment number', path: segment('segment_99999999999999999999999.m4s'), status: 404 },
  { name: 'segment past the end', path: segment('segment_999.m4s'), status: 404 },
  { name: 'fractional segment', path: segment('segment_1.5.m4s'), status: 404 },
  { name: 'exponent segment', path: segment('segment_1e2.m4s'), status: 404 },
  { name: 'hex segment', path: segment('segment_0x1.m4s'), status: 404 },
  { name: 'zero-padded segment', path: segment('segment_01.m4s'), status: 404 },
  { name: 'empty segment number', path: segment('segment_.m4s'), status: 404 },
  { name: 'non-numeric segment', path: segment('segment_abc.m4s'), status: 404 },
  { name: 'unicode digits', path: segment('segment_%D9%A1.m4s'), status: 404 },
  { name: 'emoji segment', path: segment('segment_%F0%9F%98%80.m4s'), status: 404 },
  { name: 'NUL after the name', path: segment('segment_1.m4s%00'), status: 404 },
  { name: 'wrong extension', path: segment('segment_1.mp4'), status: 404 },
  { name: 'init in upper case', path: segment('INIT.MP4'), status: 404 },
  { name: 'encoded dot-dot as file', path: segment('%2e%2e'), status: 404 },
  { name: 'encoded traversal in the rendition', path: content('video/..%2F..%2F..%2Fetc/passwd'), status: 404 },
  { name: 'dot-dot rendition', path: content('video/%2e%2e/segment_1.m4s'), status: 404 },
  { name: 'unknown media kind', path: content('subtitles/x/segment_1.m4s'), status: 404 },
  { name: 'unknown rendition', path: content('video/4k/segment_1.m4s'), status: 404 },
  { name: 'audio rendition under video', path: () => `/api/v1/content/${hash}/video/${audio}/segment_1.m4s`, status: 404 },
  { name: 'video rendition under audio', path: () => `/api/v1/content/${hash}/audio/${video}/init.mp4`, status: 404 },
  { name: 'playlist with a suffix', path: () => `/api/v1/content/${hash}/video/${video}/playlist.m3u8x`, status: 404 },
  { name: 'vod path climbing out', path: '/vod/../../etc/passwd/master.m3u8', status: 404 },
  { name: 'vod backslash traversal', path: '/vod/..\\..\\etc\\passwd/master.m3u8', status: 404 },
  { name: 'content dot-dot out of the tree', path: content('video/../../../../../etc/passwd'), status: 404 },
  { name: 'vod encoded traversal', path: '/vod/%2e%2e%2f%2e%2e%2fetc%2fpasswd/master.m3u8', status: 400 },
  { name: 'vod broken percent-encoding', path: '/vod/%ZZ/master.m3u8', status: 400 },
  { name: 'vod NUL', path: '/vod/clip.mp4%00.txt/master.m3u8', status: 400 },
  { name: 'vod missing file', path: '/vod/missing.mp4/master.m3u8', status: 404 },
  { name: 'vod other file name', path: '/vod/clip.mp4/passwd', status: 404 },
  { name: 'vod absurdly long path', path: `/vod/${'a'.repeat(5000)}.mp4/master.m3u8`, status: 400 },
  { name: 'vod directory', path: '/vod/folder.mp4/master.m3u8', status: 404 },
  { name: 'register: not JSON', path: '/api/v1/content', method: 'POST', body: '{path:', status: 400 },
  { name: 'register: path not a string', path: '/api/v1/content', method: 'POST', body: '{"path": 42}', status: 400 },
  { name: 'register: no path', path: '/api/v1/content', method: 'POST', body: '{}', status: 400 },
  { name: 'register: JSON null', path: '/api/v1/content', method: 'POST', body: 'null', status: 400 },
  { name: 'register: body too large', path: '/api/v1/content', method: 'POST', body: JSON.stringify({ path: 'clip.mp4', pad: 'x'.repeat(2 * 1024 * 1024) }), status: 413 },
  { name: 'register: parent path', path: '/api/v1/content', method: 'POST', body: '{"path": "../../etc/passwd"}', status: 400 },
  { name: 'register: absolute path', path: '/api/v1/content', method: 'POST', body: '{"path": "/etc/passwd"}', status: 400 },
  { name: 'register: NUL in path', path: '/api/v1/content', method: 'POST', body: '{"path": "clip.mp4\\u0000.txt"}', status: 400 },
  { name: 'register: absurdly long path', path: '/api/v1/content', method: 'POST', body: JSON.stringify({ path: 'a'.repeat(10_000) }), status: 400 },
  { name: 'register: a directory', path: '/api/v1/content', method: 'POST', body: '{"path": "folder.mp4"}', status: 404 },
  { name: 'unsatisfiable range', path: segment('init.mp4'), headers: { Range: 'bytes=99999999-' }, status: 416 },
  { name: 'unknown method on content', path: content('info'), method: 'DELETE', status: 404 },
];

const MALFORMED_MEDIA: Array<{ file: string; status: number; reason: RegExp }> = [
  { file: 'empty.mp4', status: 415, reason: /empty/ },
  { file: 'text.mp4', status: 415, reason: /not a media file|cannot read/ },
  { file: 'garbage.mp4', status: 415, reason: /not a media file|cannot read|invalid/i },
  { file: 'truncated.mp4', status: 415, reason: /./ },
  { file: 'headless.mp4', status: 415, reason: /./ },
  { file: 'playlist.mp4', status: 415, reason: /'hls'/ },
  { file: 'playlist-remote.mkv', status: 415, reason: /'hls'/ },
  { file: 'concat.mp4', status: 415, reason: /'concat'|not a media file/ },
  { file: 'stream.sdp.mp4', status: 415, reason: /'sdp'|not a media file/ },
  { file: 'manifest.mp4', status: 415, reason: /'dash'|not a media file|cannot read/ },
  { file: 'image.mp4', status: 415, reason: /png|not a media file/ },
  { file: 'audio-only.mp4', status: 415, reason: /no video/ },
];

describe('bad requests', () => {
  it(`${BAD_REQUESTS.length + MALFORMED_MEDIA.length} distinct bad inputs in all`, () => {
    expect(BAD_REQUESTS.length + MALFORMED_MEDIA.length).toBeGreaterThanOrEqual(40);
    expect(new Set(BAD_REQUESTS.map((c) => c.name)).size).toBe(BAD_REQUESTS.length);
  });

  it.each(BAD_REQUESTS)('$name → $status', async (c) => {
    const target = typeof c.path === 'function' ? c.path() : c.path;
    // Paths go over a raw socket, byte for byte: fetch would fold `..` and `%2e%2e` before sending.
    // Bodies (registrations) go through fetch: their paths are plain and their bodies the point.
    const { status, body } =
      c.body === undefined
        ? await rawRequest(server.url, target, { method: c.method ?? 'GET', ...(c.headers ? { headers: c.headers } : {}) }).then((r) => ({ status: r.status, body: r.body.toString() }))
        : await fetch(`${server.url}${target}`, { method: c.method ?? 'GET', body: c.body, ...(c.headers ? { headers: c.headers } : {}) }).then(async (r) => ({ status: r.status, body: await r.text() }));
    expect(status).toBe(c.status);
    if (c.status !== 416) {
      const json = JSON.parse(body);
      expect(typeof json.error).toBe('string');
      expect(typeof json.message).toBe('string');
    }
  });
});

describe('malformed and crafted media', () => {
  it.each(MALFORMED_MEDIA)('$file → $status with the reason, nothing cached', async ({ file, status, reason }) => {
    const before = await readdir(server.cacheDir);
    const response = await fetch(`${server.url}/vod/${file}/master.m3u8`);
    expect(response.status).toBe(status);
    const body = await response.json();
    expect(body.message).toMatch(reason);
    expect(await readdir(server.cacheDir)).toEqual(before);
    // The server still serves good content.
    expect((await fetch(`${server.url}/api/v1/content/${hash}/video/${video}/segment_1.m4s`)).status).toBe(200);
  });

  it('a playlist, concat script, SDP or MPD posing as a video never reached the network', () => {
    expect(trapConnections).toBe(0);
  });
});
