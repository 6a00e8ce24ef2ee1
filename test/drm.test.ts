import { spawn } from 'node:child_process';
import { hkdfSync } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBoxes } from '../src/package/fmp4.js';
import { initProblem } from '../src/package/validate.js';
import { packagerPath } from '../src/process/runner.js';
import { UrlSigner } from '../src/http/signing.js';
import { DRM_PROFILES, drmStreaming, fetchOk, registerSigned, SEED, SIGN_KEY } from './support/drm.js';
import { killInstance, startInstance, type Instance } from './support/instances.js';
import { startNodeEdge } from '../edge/src/node.js';
import { mediaFolder, testSource } from './support/media.js';
import { rawRequest } from './support/raw-http.js';
import { testServer, type TestServer } from './support/server.js';

/**
 * Protected content without a browser: every segment of every rendition, in
 * cenc and in cbcs, decrypts with its key to exactly the clear stream's
 * frames and audio samples (ffmpeg -decryption_key per segment; Shaka
 * Packager's raw-key decryption for a whole rendition), and without the key
 * does not decode to the picture (PSNR < 15 dB, or ffmpeg fails). Key ids and
 * keys are the HKDF derivation the README documents, the same on two origin
 * processes with no shared state (no Redis), which also write the same bytes.
 * The key endpoint refuses unsigned, tampered, expired and foreign-content
 * requests over a raw socket, rate-limits, and no key is ever in a log line.
 */

type Scheme = 'cenc' | 'cbcs';
/** A system passed through from the config (the cbcs origin has it): its PSSH goes into inits and manifests as given. */
const WIDEVINE = { name: 'widevine', system_id: 'edef8ba9-79d6-4ace-a3c8-27dcd51d21ed', pssh_data: Buffer.from('jitseg-test-widevine-data').toString('base64'), license_url: 'https://license.example/widevine' };
type Label = 'video' | 'audio';
const KEY_BUDGET = 40;

/** The documented derivation, written again here: HKDF-SHA256(seed, salt = content hash, info). */
const derive = (hash: string, scheme: Scheme, what: 'kid' | 'key', label: Label) =>
  Buffer.from(hkdfSync('sha256', Buffer.from(SEED), Buffer.from(hash), Buffer.from(`jitseg/drm/v1/${scheme}/${what}/${label}`), 16)).toString('hex');

function runTool(command: string, args: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr }));
  });
}

/** The frames (video) or audio packets ffmpeg decodes, as framemd5 lines without the header: exact pictures, exact samples. */
async function decodedFrames(file: string, key?: string): Promise<{ code: number; lines: string[] }> {
  const { code, stdout } = await runTool('ffmpeg', ['-v', 'error', ...(key ? ['-decryption_key', key] : []), '-i', file, '-f', 'framemd5', '-']);
  return { code, lines: stdout.toString().split('\n').filter((l) => l && !l.startsWith('#')) };
}

interface Rendition {
  kind: Label;
  id: string;
  init: Buffer;
  segments: Buffer[];
}

/** Every file of every rendition of a content, in the order /info lists them. */
async function download(base: string, query: string): Promise<Rendition[]> {
  const info = (await (await fetch(`${base}/info${query}`)).json()) as { segments: number; renditions: { id: string }[]; audio: { id: string; segments: number }[] };
  const list = [...info.renditions.map((r) => ({ kind: 'video' as const, id: r.id, count: info.segments })), ...info.audio.map((a) => ({ kind: 'audio' as const, id: a.id, count: a.segments }))];
  const out: Rendition[] = [];
  for (const { kind, id, count } of list) {
    const init = await fetchOk(`${base}/${kind}/${id}/init.mp4${query}`);
    const segments: Buffer[] = [];
    for (let n = 1; n <= count; n++) segments.push(await fetchOk(`${base}/${kind}/${id}/segment_${n}.m4s${query}`));
    out.push({ kind, id, init, segments });
  }
  return out;
}

/** The scheme and default key id an init declares (schm, tenc). */
function protectionOf(init: Buffer): { scheme: string; kid: string } {
  const [schm] = findAllBoxes(init, 'schm');
  const [tenc] = findAllBoxes(init, 'tenc');
  return { scheme: init.subarray(schm! + 12, schm! + 16).toString('latin1'), kid: init.subarray(tenc! + 16, tenc! + 32).toString('hex') };
}

/** Offsets of every box of a type (a byte scan: sample entries nest boxes after fixed fields). */
function findAllBoxes(bytes: Buffer, type: string): number[] {
  const found: number[] = [];
  for (let i = bytes.indexOf(type); i >= 4; i = bytes.indexOf(type, i + 1)) found.push(i - 4);
  return found;
}

let work: string;
let widevineBox: Buffer | undefined;
let clear: TestServer;
let cbcs: TestServer;
let a: Instance;
let b: Instance;
const logs = new Map<Instance, string[]>();
let hash: string;
let otherHash: string;
const clearFiles: Rendition[] = [];

async function startLogged(args: string[], env: Record<string, string> = {}): Promise<Instance> {
  const instance = await startInstance(args, { JITSEG_LOG_LEVEL: 'debug', ...env });
  const lines: string[] = [];
  instance.child.stdout!.on('data', (d: Buffer) => lines.push(d.toString()));
  instance.child.stderr!.on('data', (d: Buffer) => lines.push(d.toString()));
  logs.set(instance, lines);
  return instance;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'jitseg-drm-'));
  const media = await mediaFolder({ 'protected.mp4': await testSource('drm360p'), 'other.mp4': await testSource('small') });
  const config = path.join(work, 'drm.yaml');
  const profiles = DRM_PROFILES.map((p) => `    - { name: "${p.name}", width: ${p.width}, height: ${p.height}, bitrate: ${p.bitrate}, quality: ${p.quality} }`).join('\n');
  await writeFile(config, `streaming:\n  profiles:\n${profiles}\n  drm: { enabled: true, scheme: cenc, key_requests_per_minute: ${KEY_BUDGET} }\n`);
  const common = ['--media', media, '--config', config, '--sign-key', SIGN_KEY];
  // One takes the seed as a flag, the other from the environment; separate caches, no Redis.
  [a, b, clear, cbcs] = await Promise.all([
    startLogged([...common, '--cache', path.join(work, 'cache-a'), '--drm-key-seed', SEED]),
    startLogged([...common, '--cache', path.join(work, 'cache-b')], { JITSEG_DRM_KEY_SEED: SEED }),
    testServer(media, drmStreaming(undefined)),
    testServer(media, { ...drmStreaming('cbcs'), drm: { ...drmStreaming('cbcs').drm!, systems: [WIDEVINE] } }, { signKey: SIGN_KEY, drmKeySeed: SEED }),
  ]);
  hash = (await registerSigned(a.url, 'protected.mp4')).hash;
  otherHash = (await registerSigned(a.url, 'other.mp4')).hash;
  const plain = await registerSigned(clear.url, 'protected.mp4');
  expect(plain.hash).toBe(hash);
  clearFiles.push(...(await download(plain.base, '')));
}, 240_000);

afterAll(async () => {
  for (const instance of [a, b]) if (instance) await killInstance(instance);
  await clear?.close();
  await cbcs?.close();
});

/** Keys from the key endpoint, as a ClearKey CDM asks: the JWK set for the key ids of the MPD. */
async function license(origin: string, contentHash: string, kids: string[]): Promise<Record<string, string>> {
  const query = await new UrlSigner(SIGN_KEY).query(UrlSigner.contentScope(contentHash), Math.floor(Date.now() / 1000) + 600);
  const response = await fetch(`${origin}/api/v1/keys?content=${contentHash}&${query.slice(1)}`, {
    method: 'POST',
    body: JSON.stringify({ kids: kids.map((k) => Buffer.from(k, 'hex').toString('base64url')), type: 'temporary' }),
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const { keys } = (await response.json()) as { keys: { kty: string; kid: string; k: string }[] };
  return Object.fromEntries(keys.map((k) => [Buffer.from(k.kid, 'base64url').toString('hex'), Buffer.from(k.k, 'base64url').toString('hex')]));
}

const mpdKids = (mpd: string) => [...new Set([...mpd.matchAll(/cenc:default_KID="([0-9a-f-]{36})"/g)].map((m) => m[1]!.replace(/-/g, '')))];

describe.each([
  ['cenc', () => a.url],
  ['cbcs', () => cbcs.url],
] as const)('%s: segments decrypt to the clear stream exactly, and only with the key', (scheme, originOf) => {
  it('declares and carries the derived key ids, and decrypts every segment to the clear frames and samples', async () => {
    const origin = originOf();
    const { base, query } = await registerSigned(origin, 'protected.mp4');
    const mpd = (await fetchOk(`${base}/manifest.mpd${query}`)).toString();
    const expected = { video: derive(hash, scheme, 'kid', 'video'), audio: derive(hash, scheme, 'kid', 'audio') };
    expect(mpdKids(mpd)).toEqual([expected.video, expected.audio]);
    expect(mpd).toContain(`<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="${scheme}"`);
    const info = (await (await fetch(`${base}/info${query}`)).json()) as { renditions: { id: string }[] };
    const playlist = (await fetchOk(`${base}/video/${info.renditions[0]!.id}/playlist.m3u8${query}`)).toString();
    const method = scheme === 'cbcs' ? 'SAMPLE-AES' : 'SAMPLE-AES-CTR';
    expect(playlist).toMatch(new RegExp(`#EXT-X-KEY:METHOD=${method},URI="[^"]+/api/v1/keys\\?content=${hash}&exp=\\d+&sig=[^"]+",KEYID=0x${expected.video},KEYFORMAT="org.w3.clearkey"`));
    expect(playlist.includes('KEYFORMAT="identity"')).toBe(scheme === 'cenc');
    if (scheme === 'cbcs') {
      // The configured system, passed through: its PSSH (as given) in the MPD and the playlist.
      const box = Buffer.concat([Buffer.from([0, 0, 0, 57]), Buffer.from('pssh'), Buffer.alloc(4), Buffer.from('edef8ba979d64acea3c827dcd51d21ed', 'hex'), Buffer.from([0, 0, 0, 25]), Buffer.from(WIDEVINE.pssh_data, 'base64')]);
      expect(mpd).toContain(`<ContentProtection schemeIdUri="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed" value="widevine"><cenc:pssh>${box.toString('base64')}</cenc:pssh><dashif:Laurl>${WIDEVINE.license_url}</dashif:Laurl></ContentProtection>`);
      expect(playlist).toContain(`URI="data:text/plain;base64,${box.toString('base64')}",KEYID=0x${expected.video},KEYFORMAT="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"`);
      widevineBox = box;
    }
    const keys = await license(origin, hash, [expected.video, expected.audio]);
    expect(keys).toEqual({ [expected.video]: derive(hash, scheme, 'key', 'video'), [expected.audio]: derive(hash, scheme, 'key', 'audio') });

    const files = await download(base, query);
    expect(files.map((f) => f.kind)).toEqual(clearFiles.map((f) => f.kind));
    const dir = await mkdtemp(path.join(work, `${scheme}-`));
    for (const [r, rendition] of files.entries()) {
      const plain = clearFiles[r]!;
      const kid = expected[rendition.kind];
      expect(rendition.id.endsWith(`-${scheme}-${rendition.id.split('-').at(-1)}`)).toBe(true);
      expect(protectionOf(rendition.init)).toEqual({ scheme, kid });
      // The init carries the common-system PSSH listing both key ids (what a ClearKey CDM is given), then the configured systems'.
      const pssh = findBoxes(rendition.init, ['moov', 'pssh']).map((b) => rendition.init.subarray(b.start, b.end));
      expect(pssh.length).toBe(scheme === 'cbcs' ? 2 : 1);
      expect(pssh[0]!.subarray(12, 28).toString('hex')).toBe('1077efecc0b24d02ace33c1e52e2fb4b');
      if (scheme === 'cbcs') expect(pssh[1]!.equals(widevineBox!)).toBe(true);
      // A clear init is refused where a protected one is expected, and the reverse (validate.ts).
      const expectation = { timescale: 90_000, codecs: rendition.kind === 'video' ? avcCodecs(plain.init) : 'mp4a.40.2', video: rendition.kind === 'video' };
      expect(initProblem(rendition.init, { ...expectation, protection: { scheme, kid } })).toBeUndefined();
      expect(initProblem(plain.init, { ...expectation, protection: { scheme, kid } })).toMatch(/expected enc/);
      expect(initProblem(rendition.init, expectation)).toMatch(/sample entry "enc[av]"/);
      expect(initProblem(rendition.init, { ...expectation, protection: { scheme, kid: '0'.repeat(32) } })).toMatch(/another key id/);

      for (const [n, segment] of rendition.segments.entries()) {
        const enc = path.join(dir, `${r}-${n}-enc.mp4`);
        const ref = path.join(dir, `${r}-${n}-clear.mp4`);
        await writeFile(enc, Buffer.concat([rendition.init, segment]));
        await writeFile(ref, Buffer.concat([plain.init, plain.segments[n]!]));
        const [decrypted, reference] = await Promise.all([decodedFrames(enc, keys[kid]), decodedFrames(ref)]);
        expect(decrypted.code, `${rendition.kind} ${rendition.id} segment ${n + 1}`).toBe(0);
        expect(reference.lines.length).toBeGreaterThan(0);
        expect(decrypted.lines, `${rendition.kind} ${rendition.id} segment ${n + 1}: decrypted frames`).toEqual(reference.lines);
      }

      // The whole rendition at once: Shaka Packager decrypts it (raw key), and ffmpeg decodes the clear stream's frames.
      const whole = path.join(dir, `${r}-whole-enc.mp4`);
      const wholeClear = path.join(dir, `${r}-whole-clear.mp4`);
      const decryptedWhole = path.join(dir, `${r}-whole-decrypted.mp4`);
      await writeFile(whole, Buffer.concat([rendition.init, ...rendition.segments]));
      await writeFile(wholeClear, Buffer.concat([plain.init, ...plain.segments]));
      const packager = await runTool(packagerPath(), [`in=${whole},stream=${rendition.kind},output=${decryptedWhole}`, '--enable_raw_key_decryption', '--keys', `label=:key_id=${kid}:key=${keys[kid]}`, '--quiet']);
      expect(packager.code, packager.stderr).toBe(0);
      const [viaPackager, reference] = await Promise.all([decodedFrames(decryptedWhole), decodedFrames(wholeClear)]);
      expect(viaPackager.lines.length).toBe(reference.lines.length);
      expect(viaPackager.lines.map(payloadHash)).toEqual(reference.lines.map(payloadHash));

      // Without the key: ffmpeg fails, or what it decodes is not the picture (PSNR against the clear frames < 15 dB) nor the sound.
      if (rendition.kind === 'video') {
        const psnr = await runTool('ffmpeg', ['-v', 'info', '-i', whole, '-i', wholeClear, '-lavfi', '[0:v][1:v]psnr', '-f', 'null', '-']);
        const average = /PSNR .*average:([0-9.]+|inf)/.exec(psnr.stderr)?.[1];
        if (psnr.code === 0 && average !== undefined) expect(Number(average), `PSNR without the key: ${average}`).toBeLessThan(15);
        else expect(psnr.code !== 0 || average === undefined).toBe(true);
      } else {
        const undecrypted = await decodedFrames(whole);
        expect(undecrypted.lines.map(payloadHash)).not.toEqual(reference.lines.map(payloadHash));
      }
    }
  }, 240_000);
});

/** framemd5's last field (the payload's hash): timestamps differ between a packager remux and the segments, the pictures must not. */
const payloadHash = (line: string) => line.split(',').slice(-2).join(',').trim();

function avcCodecs(init: Buffer): string {
  const [avcC] = findAllBoxes(init, 'avcC');
  return `avc1.${init.subarray(avcC! + 9, avcC! + 12).toString('hex')}`;
}

describe('two origin processes, no shared state', () => {
  it('derive the same key ids and keys, and write the same encrypted bytes', async () => {
    const [onA, onB] = await Promise.all([registerSigned(a.url, 'protected.mp4'), registerSigned(b.url, 'protected.mp4')]);
    const [mpdA, mpdB] = await Promise.all([fetchOk(`${onA.base}/manifest.mpd${onA.query}`), fetchOk(`${onB.base}/manifest.mpd${onB.query}`)]);
    const kids = mpdKids(mpdA.toString());
    expect(kids).toEqual(mpdKids(mpdB.toString()));
    expect(kids).toEqual([derive(hash, 'cenc', 'kid', 'video'), derive(hash, 'cenc', 'kid', 'audio')]);
    expect(await license(b.url, hash, kids)).toEqual(await license(a.url, hash, kids));
    const info = (await (await fetch(`${onA.base}/info${onA.query}`)).json()) as { renditions: { id: string }[]; audio: { id: string }[] };
    for (const file of [`video/${info.renditions[0]!.id}/init.mp4`, `video/${info.renditions[0]!.id}/segment_2.m4s`, `audio/${info.audio[0]!.id}/segment_2.m4s`]) {
      const [x, y] = await Promise.all([fetchOk(`${onA.base}/${file}${onA.query}`), fetchOk(`${onB.base}/${file}${onB.query}`)]);
      expect(x.equals(y), file).toBe(true);
    }
  }, 120_000);
});

describe('the key endpoint', () => {
  const body = () => JSON.stringify({ kids: [Buffer.from(derive(hash, 'cenc', 'kid', 'video'), 'hex').toString('base64url')], type: 'temporary' });
  const post = (target: string, payload = body()) => rawRequest(a.url, target, { method: 'POST', body: payload, headers: { 'Content-Type': 'application/json' } });
  const signer = new UrlSigner(SIGN_KEY);

  it('answers a signed session of the content, and refuses unsigned, tampered, expired, foreign-content and other spellings with 403', async () => {
    const soon = Math.floor(Date.now() / 1000) + 600;
    const sig = await signer.signature(UrlSigner.contentScope(hash), soon);
    const good = `/api/v1/keys?content=${hash}&exp=${soon}&sig=${sig}`;
    const control = await post(good);
    expect(control.status).toBe(200);
    expect(JSON.parse(control.body.toString()).keys).toHaveLength(1);

    const past = Math.floor(Date.now() / 1000) - 10;
    const foreignSig = await signer.signature(UrlSigner.contentScope(otherHash), soon);
    const refused = [
      `/api/v1/keys?content=${hash}`,
      `/api/v1/keys?content=${hash}&exp=${soon}`,
      `/api/v1/keys?content=${hash}&exp=${soon}&sig=${sig.slice(0, -2)}AA`,
      `/api/v1/keys?content=${hash}&exp=${soon + 1}&sig=${sig}`,
      `/api/v1/keys?content=${hash}&exp=${past}&sig=${await signer.signature(UrlSigner.contentScope(hash), past)}`,
      // Another content's session cannot open this content.
      `/api/v1/keys?content=${hash}&exp=${soon}&sig=${foreignSig}`,
      `/api/v1/keys?exp=${soon}&sig=${sig}`,
      `/api/v1/Keys?content=${hash}&exp=${soon}&sig=${sig}`,
      `/api/v1//keys?content=${hash}&exp=${soon}&sig=${sig}`,
      `/api/v1/keys/?content=${hash}&exp=${soon}&sig=${sig}`,
    ];
    for (const target of refused) expect((await post(target)).status, target).toBe(403);
    // A valid session of the other content asking for this content's key id: not given.
    const other = await post(`/api/v1/keys?content=${otherHash}&exp=${soon}&sig=${foreignSig}`);
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body.toString()).message).toMatch(/not of this content|none of these key ids/);
    // The HLS identity key (GET): the same guard, and only a key id of the content.
    expect((await rawRequest(a.url, `/api/v1/keys?kid=${derive(hash, 'cenc', 'kid', 'video')}&content=${hash}`)).status).toBe(403);
    const identity = await rawRequest(a.url, `/api/v1/keys?kid=${derive(hash, 'cenc', 'kid', 'video')}&content=${hash}&exp=${soon}&sig=${sig}`);
    expect(identity.status).toBe(200);
    expect(identity.body.toString('hex')).toBe(derive(hash, 'cenc', 'key', 'video'));
    const foreignKid = await rawRequest(a.url, `/api/v1/keys?kid=${derive(hash, 'cenc', 'kid', 'video')}&content=${otherHash}&exp=${soon}&sig=${foreignSig}`);
    expect(foreignKid.status).toBe(403);
  });

  it('limits key requests per client address (429 + Retry-After)', async () => {
    const soon = Math.floor(Date.now() / 1000) + 600;
    const target = `/api/v1/keys?content=${hash}&exp=${soon}&sig=${await signer.signature(UrlSigner.contentScope(hash), soon)}`;
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof rawRequest>> | undefined;
    // The budget is per minute: within 2 budgets' worth of requests one window runs out, whenever the test started.
    for (let i = 0; i < 2 * KEY_BUDGET + 1 && !limited; i++) {
      const response = await rawRequest(b.url, target, { method: 'POST', body: body() });
      statuses.push(response.status);
      if (response.status === 429) limited = response;
    }
    expect(limited?.status, `statuses ${statuses.join(',')}`).toBe(429);
    expect(Number(limited!.headers['retry-after'])).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  });
});

describe('through the edge', () => {
  it('protected segments pass through unchanged and are cached; the key endpoint is guarded and never cached', async () => {
    const edge = await startNodeEdge({ origins: [a.url], port: 0, signKey: SIGN_KEY });
    try {
      const { query } = await registerSigned(a.url, 'protected.mp4');
      const info = (await (await fetch(`${a.url}/api/v1/content/${hash}/info${query}`)).json()) as { renditions: { id: string }[] };
      const segment = `/api/v1/content/${hash}/video/${info.renditions[0]!.id}/segment_1.m4s${query}`;
      const fromOrigin = await fetchOk(`${a.url}${segment}`);
      const first = await fetch(`${edge.url}${segment}`);
      const second = await fetch(`${edge.url}${segment}`);
      expect(Buffer.from(await first.arrayBuffer()).equals(fromOrigin)).toBe(true);
      expect(Buffer.from(await second.arrayBuffer()).equals(fromOrigin)).toBe(true);
      expect(second.headers.get('x-cache')).toBe('HIT');

      const kid = derive(hash, 'cenc', 'kid', 'video');
      expect((await rawRequest(edge.url, `/api/v1/keys?kid=${kid}&content=${hash}`)).status).toBe(403);
      expect((await rawRequest(edge.url, `/api/v1/keys?content=${hash}`, { method: 'POST', body: '{}' })).status).toBe(403);
      const identity = `${edge.url}/api/v1/keys?kid=${kid}&content=${hash}&${query.slice(1)}`;
      for (let i = 0; i < 2; i++) {
        const response = await fetch(identity);
        expect(response.status).toBe(200);
        expect(response.headers.get('x-cache')).toBe('MISS');
        expect(response.headers.get('cache-control')).toBe('no-store');
        expect(Buffer.from(await response.arrayBuffer()).toString('hex')).toBe(derive(hash, 'cenc', 'key', 'video'));
      }
      const licensed = await fetch(`${edge.url}/api/v1/keys?content=${hash}&${query.slice(1)}`, { method: 'POST', body: JSON.stringify({ kids: [Buffer.from(kid, 'hex').toString('base64url')] }) });
      expect(licensed.status).toBe(200);
      expect(licensed.headers.get('x-cache')).toBe('MISS');
    } finally {
      await edge.close();
    }
  }, 60_000);
});

describe('logs', () => {
  it('never carry a key, in hex, base64url or base64', async () => {
    // Every request above was logged at debug level by both processes.
    const secrets = [hash, otherHash].flatMap((h) => (['video', 'audio'] as const).map((label) => derive(h, 'cenc', 'key', label)));
    const spellings = secrets.flatMap((hex) => [hex, hex.toUpperCase(), Buffer.from(hex, 'hex').toString('base64url'), Buffer.from(hex, 'hex').toString('base64')]);
    for (const instance of [a, b]) {
      const text = logs.get(instance)!.join('');
      expect(text.length).toBeGreaterThan(1000);
      expect(text).toContain('"path":"/api/v1/keys"');
      expect(spellings.filter((s) => text.includes(s))).toEqual([]);
    }
  });
});
