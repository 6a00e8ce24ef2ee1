/**
 * The signing guard against every spelling of a protected path, sent over a
 * raw TCP socket (fetch and URL would normalise `..`, `%2e%2e`, `//` and
 * backslashes before sending, so the server would never see them): at the
 * origin and through the edge, each unsigned, tampered, expired and signed
 * for another content, every answer is 403 or 404, nothing is registered
 * and nothing is encoded. Then the positive controls: the same counters and
 * lists move when a correctly signed request gets its 200.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeEdge, type NodeEdge } from '../edge/src/node.js';
import { UrlSigner } from '../src/http/signing.js';
import { exec, mediaFolder, testSource } from './support/media.js';
import { metricValue } from './support/metrics.js';
import { rawRequest } from './support/raw-http.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const SIGN_KEY = 'raw-paths-signing-key-0123456789';
const ADMIN = 'raw-paths-admin-token-0123456789';
const auth = { Authorization: `Bearer ${ADMIN}` };
const signer = new UrlSigner(SIGN_KEY);

let origin: TestServer;
let edge: NodeEdge;
let hash: string;
let otherHash: string;
let rendition: string;

beforeAll(async () => {
  const small = await testSource('small');
  const media = await mediaFolder({ 'clip.mp4': small, 'other.mp4': await testSource('browser360p') });
  // fresh.mp4 (bytes of its own, so a hash of its own) is never registered before the end:
  // a /vod request that got through would register (and probe) it.
  await mkdir(path.join(media, 'sub'));
  for (const [file, title] of [['fresh.mp4', 'fresh'], ['sub/fresh.mp4', 'sub']]) {
    await exec('ffmpeg', ['-v', 'error', '-i', small, '-c', 'copy', '-metadata', `title=${title}`, path.join(media, file!)]);
  }
  origin = await testServer(media, NO_PREFETCH, { signKey: SIGN_KEY, adminToken: ADMIN });
  // The edge knows only the signing key: admin calls are the origin's to refuse.
  edge = await startNodeEdge({ origins: [origin.url], port: 0, prefetch: 2, signKey: SIGN_KEY });
  const register = async (path: string) => (await (await fetch(`${origin.url}/api/v1/content`, { method: 'POST', headers: auth, body: JSON.stringify({ path }) })).json()).hash as string;
  hash = await register('clip.mp4');
  otherHash = await register('other.mp4');
  const info = await (await fetch(`${origin.url}/api/v1/content/${hash}/info${await signer.query(UrlSigner.contentScope(hash), now() + 600)}`)).json();
  rendition = info.renditions[0].id;
});
afterAll(async () => {
  await edge?.close();
  await origin?.close();
});

const now = () => Math.floor(Date.now() / 1000);

/** The hash with its first hex letter written as a percent escape (upper or lower case hex digits). */
function withEscapedLetter(h: string, upper: boolean): string {
  const at = h.search(/[a-f]/);
  expect(at).toBeGreaterThanOrEqual(0);
  const escape = `%${h.charCodeAt(at).toString(16)}`;
  return `${h.slice(0, at)}${upper ? escape.toUpperCase() : escape}${h.slice(at + 1)}`;
}

interface Spelling {
  name: string;
  target: () => string;
  /** The scope the path means: what a tampered or expired signature is made for. */
  scope: () => string;
}

const segment = () => `video/${rendition}/segment_1.m4s`;
const contentScope = () => UrlSigner.contentScope(hash);
const vodScope = () => '/vod/fresh.mp4/';

const SPELLINGS: Spelling[] = [
  { name: 'plain segment', target: () => `/api/v1/content/${hash}/${segment()}`, scope: contentScope },
  { name: 'plain metadata (no trailing slash)', target: () => `/api/v1/content/${hash}`, scope: contentScope },
  { name: 'plain info', target: () => `/api/v1/content/${hash}/info`, scope: contentScope },
  { name: 'plain /vod', target: () => '/vod/fresh.mp4/master.m3u8', scope: vodScope },
  { name: 'hash letter %-escaped (lower)', target: () => `/api/v1/content/${withEscapedLetter(hash, false)}/${segment()}`, scope: contentScope },
  { name: 'hash letter %-escaped (upper)', target: () => `/api/v1/content/${withEscapedLetter(hash, true)}/master.m3u8`, scope: contentScope },
  { name: '%76od', target: () => '/%76od/fresh.mp4/master.m3u8', scope: vodScope },
  { name: '%56OD', target: () => '/%56OD/fresh.mp4/master.m3u8', scope: vodScope },
  { name: 'api path letters escaped', target: () => `/%61pi/v1/%63ontent/${hash}/${segment()}`, scope: contentScope },
  { name: '%2F after the hash', target: () => `/api/v1/content/${hash}%2F${segment().replace(/\//g, '%2F')}`, scope: contentScope },
  { name: '%2F in the /vod path', target: () => '/vod/sub%2Ffresh.mp4/master.m3u8', scope: () => '/vod/sub%2Ffresh.mp4/' },
  { name: '%2F..%2F in the /vod path', target: () => '/vod/sub%2F..%2Ffresh.mp4/master.m3u8', scope: vodScope },
  { name: '%2e%2e from another hash', target: () => `/api/v1/content/${otherHash}/%2e%2e/${hash}/${segment()}`, scope: contentScope },
  { name: '%2E%2E from outside', target: () => `/x/%2E%2E/api/v1/content/${hash}/${segment()}`, scope: contentScope },
  { name: '.. in /vod', target: () => '/vod/sub/../fresh.mp4/master.m3u8', scope: vodScope },
  { name: '%2e%2e in /vod', target: () => '/vod/a/%2e%2e/fresh.mp4/master.m3u8', scope: vodScope },
  { name: 'leading //', target: () => `//api/v1/content/${hash}/${segment()}`, scope: contentScope },
  { name: '// before the hash', target: () => `/api/v1/content//${hash}/${segment()}`, scope: contentScope },
  { name: '// in /vod', target: () => '/vod//fresh.mp4/master.m3u8', scope: vodScope },
  { name: '/./ before the hash', target: () => `/api/v1/content/./${hash}/${segment()}`, scope: contentScope },
  { name: '/%2e/ in /vod', target: () => '/vod/%2e/fresh.mp4/master.m3u8', scope: vodScope },
  { name: 'backslashes in the content path', target: () => `/api/v1/content\\${hash}\\${segment().replace(/\//g, '\\')}`, scope: contentScope },
  { name: 'backslash in /vod', target: () => '/vod\\fresh.mp4/master.m3u8', scope: vodScope },
  { name: 'escaped backslash %5C', target: () => `/api/v1/content%5C${hash}/${segment()}`, scope: contentScope },
  { name: '/API/v1 upper case', target: () => `/API/v1/content/${hash}/${segment()}`, scope: contentScope },
  { name: '/Api/V1/Content mixed case', target: () => `/Api/V1/Content/${hash}/master.m3u8`, scope: contentScope },
  { name: 'hash in upper case', target: () => `/api/v1/content/${hash.toUpperCase()}/${segment()}`, scope: contentScope },
  { name: '/VOD upper case', target: () => '/VOD/fresh.mp4/master.m3u8', scope: vodScope },
  { name: '/Vod mixed case', target: () => '/Vod/fresh.mp4/manifest.mpd', scope: vodScope },
  { name: 'overlong segment name', target: () => `/api/v1/content/${hash}/video/${rendition}/segment_${'1'.repeat(12_000)}.m4s`, scope: contentScope },
  { name: 'overlong /vod path', target: () => `/vod/${'a/'.repeat(5_000)}fresh.mp4/master.m3u8`, scope: vodScope },
];

type Variant = (spelling: Spelling) => Promise<string>;
const tamper = (query: string) => query.replace(/sig=(.)/, (_, first: string) => `sig=${first === 'A' ? 'B' : 'A'}`);
const VARIANTS: Record<string, Variant> = {
  unsigned: async () => '',
  tampered: async (s) => tamper(await signer.query(s.scope(), now() + 600)),
  expired: async (s) => signer.query(s.scope(), now() - 5),
  'signed for another content': async () => signer.query(UrlSigner.contentScope(otherHash), now() + 600),
  'signed for another file': async () => signer.query('/vod/clip.mp4/', now() + 600),
};

const encodes = async () => metricValue(await (await fetch(`${origin.url}/metrics`, { headers: auth })).text(), 'jitseg_transcodes_total');
const registeredPaths = async () => ((await (await fetch(`${origin.url}/api/v1/content`, { headers: auth })).json()).items as Array<{ path: string }>).map((i) => i.path);

describe('every spelling of a protected path, over a raw socket', () => {
  it('is 403 or 404 unsigned, tampered, expired and foreign, at the origin and through the edge; nothing encoded or registered', async () => {
    const answers: string[] = [];
    for (const [where, base] of [['origin', origin.url], ['edge', edge.url]] as const) {
      for (const spelling of SPELLINGS) {
        for (const [variant, query] of Object.entries(VARIANTS)) {
          const target = `${spelling.target()}${await query(spelling)}`;
          const response = await rawRequest(base, target);
          answers.push(`${where} ${spelling.name} ${variant} → ${response.status}`);
          expect([403, 404], `${where}: ${spelling.name}, ${variant}: ${response.status} ${response.body.toString().slice(0, 200)}`).toContain(response.status);
          expect(JSON.parse(response.body.toString()).error, `${where}: ${spelling.name}, ${variant}`).toMatch(/^(forbidden|not_found)$/);
        }
      }
    }
    expect(answers).toHaveLength(2 * SPELLINGS.length * Object.keys(VARIANTS).length);
    expect(await encodes()).toBe(0);
    expect(await registeredPaths()).not.toContain('fresh.mp4');
    expect(await registeredPaths()).not.toContain('sub/fresh.mp4');
  });

  it('a target longer than Node accepts in a request head is refused before routing (431)', async () => {
    for (const base of [origin.url, edge.url]) {
      expect((await rawRequest(base, `/api/v1/content/${hash}/video/${rendition}/${'A'.repeat(20_000)}.m4s`)).status).toBe(431);
    }
  });

  it('positive controls: correctly signed, the same requests are served, encoded and registered', async () => {
    const before = await encodes();
    const segmentTarget = `/api/v1/content/${hash}/${segment()}${await signer.query(contentScope(), now() + 600)}`;
    const direct = await rawRequest(origin.url, segmentTarget);
    expect(direct.status).toBe(200);
    expect(direct.headers['content-type']).toBe('video/mp4');
    expect(await encodes()).toBeGreaterThan(before);
    const viaEdge = await rawRequest(edge.url, segmentTarget);
    expect(viaEdge.status).toBe(200);
    expect(viaEdge.body.equals(direct.body)).toBe(true);
    // A valid signature is valid however its path is spelled: the guard and the handler see the same routed path.
    const escaped = await rawRequest(origin.url, `/api/v1/content/${withEscapedLetter(hash, false)}/${segment()}${await signer.query(contentScope(), now() + 600)}`);
    expect(escaped.status).toBe(200);
    expect(escaped.body.equals(direct.body)).toBe(true);

    const vod = await rawRequest(edge.url, `/%76od/fresh.mp4/master.m3u8${await signer.query(vodScope(), now() + 600)}`);
    expect(vod.status).toBe(200);
    expect(vod.body.toString()).toMatch(/^#EXTM3U/);
    expect(await registeredPaths()).toContain('fresh.mp4');
  });
});
