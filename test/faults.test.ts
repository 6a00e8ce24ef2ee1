/**
 * Process faults: an ffmpeg that hangs, one that crashes, one that writes a
 * partial segment (a wrapper around the real ffmpeg that misbehaves only
 * for files named for it). Nothing broken is ever served or cached, each
 * failure ends in a 502 with its reason and a TranscodeFailed record, a
 * content that keeps failing is paused by its circuit breaker, and other
 * content is served all along.
 *
 * Each test starts its own server on its own cache dir: the media folder
 * (made once, never written) is all they share.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exec, mediaFolder } from './support/media.js';
import { writeFakeFfmpeg } from './support/fake-ffmpeg.js';
import { metricValue, scrape } from './support/metrics.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

let media: string;
let fakeDir: string;
let previousFfmpeg: string | undefined;
const servers: TestServer[] = [];

beforeAll(async () => {
  const fake = await writeFakeFfmpeg('jitseg-faults-');
  fakeDir = fake.dir;
  previousFfmpeg = process.env.JITSEG_FFMPEG;
  process.env.JITSEG_FFMPEG = fake.ffmpeg;
  // Different files (content is addressed by its bytes): 6 s clips with different tones.
  media = await mediaFolder({});
  await Promise.all(
    ['normal', 'hang-me', 'crash-me', 'corrupt-me', 'flaky-1'].map((name, i) =>
      exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=6', '-f', 'lavfi', '-i', `sine=frequency=${400 + 100 * i}:duration=6`,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', path.join(media, `${name}.mp4`)]),
    ),
  );
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(() => {
  if (previousFfmpeg === undefined) delete process.env.JITSEG_FFMPEG;
  else process.env.JITSEG_FFMPEG = previousFfmpeg;
});

/** A server of its own, on a fresh cache dir; closed after the test. */
async function freshServer(): Promise<TestServer> {
  const server = await testServer(media, { ...NO_PREFETCH, segment_duration: 2, encoder: encoderWith({ preset: 'ultrafast', stall_timeout_seconds: 2 }) });
  servers.push(server);
  return server;
}

async function register(server: TestServer, name: string) {
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: name }) })).json();
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  return { hash: registered.hash as string, base: `${server.url}/api/v1/content/${registered.hash}/video/${info.renditions[0].id}`, rendition: info.renditions[0].id as string };
}

/** What of a content is in the store: its segment files and its TranscodeFailed records. */
async function stored(server: TestServer, hash: string, rendition: string) {
  const segments = await readdir(path.join(server.cacheDir, hash, 'video', rendition)).catch(() => [] as string[]);
  const logs = await readdir(path.join(server.cacheDir, hash, 'logs')).catch(() => [] as string[]);
  return { segments: segments.filter((f) => f.endsWith('.m4s')), records: logs.filter((f) => f.endsWith('.json')) };
}

describe('a misbehaving ffmpeg', () => {
  it.each([
    ['hang-me.mp4', /stalled: no progress/],
    ['crash-me.mp4', /killed by SIGSEGV/],
    ['corrupt-me.mp4', /does not match the plan|packager/],
  ])('%s: 502 with the reason after 3 tries, nothing cached, other content served meanwhile', async (file, reason) => {
    const server = await freshServer();
    const bad = await register(server, file);
    const good = await register(server, 'normal.mp4');
    const [failed, other] = await Promise.all([fetch(`${bad.base}/segment_2.m4s`), fetch(`${good.base}/segment_2.m4s`)]);
    expect(other.status).toBe(200);
    expect(failed.status).toBe(502);
    const body = await failed.json();
    expect(body.error).toBe('encode_failed');
    expect(body.message).toMatch(reason);

    const { segments, records } = await stored(server, bad.hash, bad.rendition);
    expect(segments).toEqual([]);
    expect(records).toHaveLength(1);
    const record = JSON.parse(await readFile(path.join(server.cacheDir, bad.hash, 'logs', records[0]!), 'utf8'));
    expect(record).toMatchObject({ event: 'TranscodeFailed', content: bad.hash, segment: 2, attempts: 3 });
    // No work directory is left behind.
    expect(await readdir(path.join(server.cacheDir, 'tmp'))).toEqual([]);
    // The same request again is not served from anywhere: it fails again.
    expect((await fetch(`${bad.base}/segment_2.m4s`)).status).toBe(502);
  });

  it('a content that keeps failing is paused (503 + Retry-After, no encode); its cached segments and other content are still served', async () => {
    const crashFlaky = path.join(fakeDir, 'crash-flaky');
    await rm(crashFlaky, { force: true });
    const server = await freshServer();
    const flaky = await register(server, 'flaky-1.mp4');
    const good = await register(server, 'normal.mp4');
    // Segment 1 is made while ffmpeg still works for this file; then every encode of it crashes.
    const first = Buffer.from(await (await fetch(`${flaky.base}/segment_1.m4s`)).arrayBuffer());
    expect(first.length).toBeGreaterThan(0);
    await writeFile(crashFlaky, '');
    // Three failed segment requests in a row (each after 3 tries) open its breaker.
    for (const n of [2, 3, 2]) expect((await fetch(`${flaky.base}/segment_${n}.m4s`)).status).toBe(502);
    const encodesBefore = metricValue(await scrape(server.url), 'jitseg_transcodes_total');
    const paused = await fetch(`${flaky.base}/segment_3.m4s`);
    expect(paused.status).toBe(503);
    expect(Number(paused.headers.get('retry-after'))).toBeGreaterThan(1);
    expect(metricValue(await scrape(server.url), 'jitseg_transcodes_total')).toBe(encodesBefore);
    // What was made before is still served, byte for byte; other content is encoded as usual.
    const cached = await fetch(`${flaky.base}/segment_1.m4s`);
    expect(cached.status).toBe(200);
    expect(Buffer.from(await cached.arrayBuffer()).equals(first)).toBe(true);
    expect((await fetch(`${good.base}/segment_3.m4s`)).status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await rm(crashFlaky);
  });
});
