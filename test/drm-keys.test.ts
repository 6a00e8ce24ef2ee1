import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeys, ServiceKeySource } from '../src/package/drm/key-service.js';
import { SeedKeySource, segmentIv } from '../src/package/drm/keys.js';
import { COMMON_SYSTEM_ID, contentPssh } from '../src/package/drm/pssh.js';
import { RateLimiter } from '../src/http/rate-limit.js';

/** The key sources, PSSH boxes and the key endpoint's budget, without media. */

const HASH = 'ab'.repeat(32);
const SERVICE_KEYS = { keys: [{ label: 'video', kid: '00112233-4455-6677-8899-aabbccddeeff', key: '0f'.repeat(16) }, { label: 'audio', kid: '10'.repeat(16), key: '1f'.repeat(16) }] };

let url: string;
const received: { body: unknown; authorization: string | undefined }[] = [];
let status = 200;
const server = createServer(async (req: IncomingMessage, res) => {
  let text = '';
  for await (const chunk of req) text += chunk;
  received.push({ body: JSON.parse(text), authorization: req.headers.authorization });
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(status === 200 ? SERVICE_KEYS : { secret: 'never-quoted' }));
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('key sources', () => {
  it('the key service is asked once per content, as documented, and its failures say nothing of its answer', async () => {
    const source = new ServiceKeySource({ url, token: 'tok', timeout_ms: 5000 }, 'cbcs');
    const [x, y] = await Promise.all([source.keysFor(HASH), source.keysFor(HASH)]);
    expect(x).toEqual({ video: { kid: '00112233445566778899aabbccddeeff', key: '0f'.repeat(16) }, audio: { kid: '10'.repeat(16), key: '1f'.repeat(16) } });
    expect(y).toBe(x);
    expect(received).toEqual([{ body: { content: HASH, labels: ['video', 'audio'], scheme: 'cbcs' }, authorization: 'Bearer tok' }]);
    status = 500;
    const failing = source.keysFor('cd'.repeat(32));
    await expect(failing).rejects.toThrow('the key service answered 500');
    await expect(failing).rejects.not.toThrow(/never-quoted/);
    status = 200;
    // A failure is not kept: the next request asks again.
    await expect(source.keysFor('cd'.repeat(32))).resolves.toEqual(x);
    expect(() => parseKeys({ keys: [{ label: 'video', kid: 'zz', key: '0f'.repeat(16) }] })).toThrow(/not 16-byte hex/);
    expect(() => parseKeys({ keys: [SERVICE_KEYS.keys[0]] })).toThrow(/lacks a video or an audio key/);
  });

  it('seed keys differ by content, track and scheme, and the rendition tag says nothing of the seed', () => {
    const seed = 's'.repeat(40);
    const cenc = new SeedKeySource(seed, 'cenc').derive(HASH);
    const cbcs = new SeedKeySource(seed, 'cbcs').derive(HASH);
    const other = new SeedKeySource(seed, 'cenc').derive('cd'.repeat(32));
    const all = [cenc, cbcs, other].flatMap((k) => [k.video.kid, k.video.key, k.audio.kid, k.audio.key]);
    expect(new Set(all).size).toBe(all.length);
    expect(all.every((v) => /^[0-9a-f]{32}$/.test(v))).toBe(true);
    expect(new SeedKeySource(seed, 'cenc').tag).toMatch(/^[0-9a-f]{8}$/);
    expect(new SeedKeySource(seed, 'cenc').tag).not.toBe(new SeedKeySource(`${seed}x`, 'cenc').tag);
    // cenc: an IV per segment (no key stream repeated across packager runs); cbcs: one constant IV per rendition.
    const ivs = [1, 2, 3, 'init' as const].map((n) => segmentIv('cenc', cenc.video, '360p', n));
    expect(new Set(ivs).size).toBe(4);
    expect(ivs[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(segmentIv('cbcs', cbcs.video, '360p', 1)).toBe(segmentIv('cbcs', cbcs.video, '360p', 7));
    expect(segmentIv('cbcs', cbcs.video, '360p', 1)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('writes the common-system PSSH (version 1, both key ids) and passes configured systems through', () => {
    const keys = new SeedKeySource('s'.repeat(40), 'cenc').derive(HASH);
    const data = Buffer.from('widevine-data');
    const [common, widevine] = contentPssh(keys, [{ name: 'widevine', system_id: 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed', pssh_data: data.toString('base64') }]);
    const box = common!.box;
    expect(box.readUInt32BE(0)).toBe(box.length);
    expect(box.subarray(4, 8).toString()).toBe('pssh');
    expect(box[8]).toBe(1);
    expect(box.subarray(12, 28).toString('hex')).toBe(COMMON_SYSTEM_ID);
    expect(box.readUInt32BE(28)).toBe(2);
    expect([box.subarray(32, 48).toString('hex'), box.subarray(48, 64).toString('hex')]).toEqual([keys.video.kid, keys.audio.kid]);
    expect(box.readUInt32BE(64)).toBe(0);
    const wv = widevine!.box;
    expect(wv[8]).toBe(0);
    expect(wv.subarray(12, 28).toString('hex')).toBe('edef8ba979d64acea3c827dcd51d21ed');
    expect(wv.readUInt32BE(28)).toBe(data.length);
    expect(wv.subarray(32).equals(data)).toBe(true);
  });

  it('the key endpoint budget: so many per window per client, then a wait until the window ends', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(3, 60_000, 100, () => now);
    expect([1, 2, 3].map(() => limiter.take('a').allowed)).toEqual([true, true, true]);
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 60 });
    expect(limiter.take('b').allowed).toBe(true);
    now += 59_500;
    expect(limiter.take('a')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    now += 500;
    expect(limiter.take('a').allowed).toBe(true);
  });
});
