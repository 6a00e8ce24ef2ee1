/**
 * Signed URLs and the admin token: unsigned, tampered, expired or foreign
 * signatures → 403; valid ones → 200 for the manifest and everything it
 * points at, so players (ffmpeg here) stream a signed URL end to end; the
 * signature is never part of a cache key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UrlSigner } from '../src/http/signing.js';
import { exec, mediaFolder, testSource } from './support/media.js';
import { metricValue } from './support/metrics.js';
import { rawRequest } from './support/raw-http.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const SIGN_KEY = 'test-signing-key-0123456789abcdef';
const ADMIN = 'test-admin-token-0123456789';
const auth = { Authorization: `Bearer ${ADMIN}` };

let server: TestServer;
let hash: string;

beforeAll(async () => {
  const media = await mediaFolder({ 'clip.mp4': await testSource('small'), 'other.mp4': await testSource('browser360p') });
  server = await testServer(media, NO_PREFETCH, { signKey: SIGN_KEY, adminToken: ADMIN });
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', headers: auth, body: JSON.stringify({ path: 'clip.mp4' }) })).json();
  hash = registered.hash;
});
afterAll(() => server?.close());

async function sign(path: string, ttl = 600): Promise<string> {
  const response = await fetch(`${server.url}/api/v1/sign`, { method: 'POST', headers: auth, body: JSON.stringify({ path, ttl }) });
  expect(response.status).toBe(200);
  return (await response.json()).url;
}

/** Video frames ffmpeg reads through a manifest URL (every segment fetched with the manifest's child URLs). */
async function framesThrough(url: string): Promise<number> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-i', url, '-map', '0:v:0', '-c', 'copy', '-f', 'framecrc', '-'], { maxBuffer: 1 << 26 });
  return stdout.split('\n').filter((l) => /^\d+,/.test(l)).length;
}

describe('signed URLs', () => {
  it('refuse unsigned, tampered, expired and foreign signatures with 403 JSON', async () => {
    const signer = new UrlSigner(SIGN_KEY);
    const vodScope = '/vod/clip.mp4/';
    const now = Math.floor(Date.now() / 1000);
    const valid = await signer.query(vodScope, now + 600);
    const tampered = valid.replace(/sig=(.)/, (_, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`);
    const cases = {
      unsigned: '/vod/clip.mp4/master.m3u8',
      'no sig': `/vod/clip.mp4/master.m3u8?exp=${now + 600}`,
      tampered: `/vod/clip.mp4/master.m3u8${tampered}`,
      'later expiry, old sig': `/vod/clip.mp4/master.m3u8${valid.replace(/exp=\d+/, `exp=${now + 99999}`)}`,
      expired: `/vod/clip.mp4/master.m3u8${await signer.query(vodScope, now - 1)}`,
      'signed for another file': `/vod/clip.mp4/master.m3u8${await signer.query('/vod/other.mp4/', now + 600)}`,
      'signed with another key': `/vod/clip.mp4/master.m3u8${await new UrlSigner('another-key-0123456789abcdef').query(vodScope, now + 600)}`,
      'segment unsigned': `/api/v1/content/${hash}/video/x/segment_1.m4s`,
      'segment signed for the manifest only': `/api/v1/content/${hash}/master.m3u8${await signer.query(`/api/v1/content/${'0'.repeat(64)}/`, now + 600)}`,
    };
    for (const [name, path] of Object.entries(cases)) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.status, name).toBe(403);
      expect((await response.json()).error, name).toBe('forbidden');
    }
    expect((await fetch(`${server.url}/vod/clip.mp4/master.m3u8${valid}`)).status).toBe(200);
  });

  it('a signed manifest carries signed child URLs, and players stream it end to end (HLS and DASH)', async () => {
    const master = await sign('/vod/clip.mp4/master.m3u8');
    const body = await (await fetch(`${server.url}${master}`)).text();
    const uris = body.split('\n').filter((l) => l && !l.startsWith('#')).concat([...body.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]!));
    expect(uris.length).toBeGreaterThan(1);
    for (const uri of uris) expect(uri).toMatch(/\?exp=\d+&sig=[\w-]+$/);

    expect(await framesThrough(`${server.url}${master}`)).toBe(200); // 8 s at 25 fps
    expect(await framesThrough(`${server.url}${await sign('/vod/clip.mp4/manifest.mpd')}`)).toBe(200);
  });

  it('keeps the signature out of cache keys: another valid signature hits the same cached segment', async () => {
    const info = await (await fetch(`${server.url}${await sign(`/api/v1/content/${hash}/info`)}`)).json();
    const segment = `/api/v1/content/${hash}/video/${info.renditions[0].id}/segment_1.m4s`;
    const first = await fetch(`${server.url}${await sign(segment, 100)}`);
    const second = await fetch(`${server.url}${await sign(segment, 200)}`);
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    // A shared, year-long cached response carries no viewer's signature (no signed Link preload).
    for (const response of [first, second]) expect(response.headers.get('link')).toBeNull();
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth })).text();
    expect(metricValue(metrics, 'jitseg_cache_hits_total', { tier: 'memory' })).toBeGreaterThanOrEqual(1);
  });
});

describe('admin endpoints', () => {
  it('need the token', async () => {
    for (const [method, path] of [['GET', '/api/v1/system'], ['GET', '/metrics'], ['GET', '/api/v1/content'], ['POST', '/api/v1/content'], ['POST', '/api/v1/sign']] as const) {
      expect((await fetch(`${server.url}${path}`, { method, body: method === 'POST' ? '{}' : null })).status, path).toBe(403);
      expect((await fetch(`${server.url}${path}`, { method, headers: { Authorization: 'Bearer wrong-token-0123456789' }, body: method === 'POST' ? '{}' : null })).status, path).toBe(403);
    }
    const system = await fetch(`${server.url}/api/v1/system`, { headers: auth });
    expect(system.status).toBe(200);
    expect((await system.json()).signedUrls).toBe(true);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200); // health stays open
  });
});

describe('admin token, deny by default (raw socket: every spelling reaches the server as sent)', () => {
  const SPELLINGS = ['/metrics', '/Metrics', '/metrics/', '/%6detrics', '/api/v1/system', '/API/v1/system', '/api/v1//system', '/%61pi/v1/system', '/api/v1/./system', '/api/v1/sessions', '/api/v1/sessions/x/logs', '/api/v1/events', '/api/v1/library', '/api/v1/content', '/api/v1/unknown', '/nope'];

  it('refuses every path that is not public or a player path without the token', async () => {
    for (const target of SPELLINGS) {
      const response = await rawRequest(server.url, target);
      expect(response.status, target).toBe(403);
      expect(JSON.parse(response.body.toString()).error, target).toBe('forbidden');
    }
  });

  it('with the token, the same spellings are served or simply not found', async () => {
    // (/api/v1/events answers with a stream that never ends: its admitted case is in test/edge-sse.test.ts.)
    for (const target of SPELLINGS.filter((t) => t !== '/api/v1/events')) {
      const { status } = await rawRequest(server.url, target, { headers: auth });
      expect([200, 404], target).toContain(status);
    }
    for (const open of ['/healthz', '/', '/ui/app.js']) expect((await rawRequest(server.url, open)).status, open).toBe(200);
  });
});

describe('admin token without URL signing', () => {
  it('spares only paths routed to the players (a path that merely folds into /vod still needs the token)', async () => {
    const unsigned = await testServer(await mediaFolder({ 'clip.mp4': await testSource('small') }), NO_PREFETCH, { adminToken: ADMIN });
    try {
      for (const target of ['/api/v1/sessions/..%2F..%2F..%2Fvod/logs', '/api/v1/sessions/x%2F..%2F..%2Fvod%2Fa/status', '/api/v1/events/..%2F..%2Fvod/x']) {
        const response = await rawRequest(unsigned.url, target);
        expect(response.status, target).toBe(403);
      }
      expect((await rawRequest(unsigned.url, '/vod/clip.mp4/master.m3u8')).status).toBe(200);
    } finally {
      await unsigned.close();
    }
  });
});

describe('URL signing without the admin token', () => {
  it('refuses to sign for anyone (POST /api/v1/sign would otherwise hand out signatures to every client)', async () => {
    const open = await testServer(await mediaFolder({ 'clip.mp4': await testSource('small') }), NO_PREFETCH, { signKey: SIGN_KEY });
    try {
      const response = await fetch(`${open.url}/api/v1/sign`, { method: 'POST', body: JSON.stringify({ path: '/vod/clip.mp4/master.m3u8' }) });
      expect(response.status).toBe(403);
      expect((await response.json()).message).toMatch(/admin token/);
      expect((await fetch(`${open.url}/vod/clip.mp4/master.m3u8`)).status).toBe(403);
    } finally {
      await open.close();
    }
  });
});
