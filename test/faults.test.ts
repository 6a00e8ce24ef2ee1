/**
 * Process faults: an ffmpeg that hangs, one that crashes, one that writes a
 * partial segment (a wrapper around the real ffmpeg that misbehaves only
 * for files named for it). Nothing broken is ever served or cached, each
 * failure ends in a 502 with its reason and a TranscodeFailed record, a
 * content that keeps failing is paused by its circuit breaker, and other
 * content is served all along.
 */
import { chmod, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, mediaFolder } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const FAKE_FFMPEG = `#!/bin/sh
case "$*" in
  *hang-me*) exec sleep 600 ;;
  *crash-me*) kill -SEGV $$ ;;
esac
ffmpeg "$@" || exit $?
case "$*" in
  *corrupt-me*)
    for out; do :; done
    case "$out" in *.ts) size=$(stat -c %s "$out"); truncate -s $((size / 2)) "$out" ;; esac ;;
esac
`;

let server: TestServer;
let previousFfmpeg: string | undefined;

async function register(name: string) {
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: name }) })).json();
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  return { hash: registered.hash as string, base: `${server.url}/api/v1/content/${registered.hash}/video/${info.renditions[0].id}`, rendition: info.renditions[0].id as string };
}

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-faults-'));
  const fake = path.join(dir, 'ffmpeg');
  await writeFile(fake, FAKE_FFMPEG);
  await chmod(fake, 0o755);
  previousFfmpeg = process.env.JITSEG_FFMPEG;
  process.env.JITSEG_FFMPEG = fake;
  // Four different files (content is addressed by its bytes): 6 s clips with different tones.
  const media = await mediaFolder({});
  await Promise.all(
    ['normal', 'hang-me', 'crash-me', 'corrupt-me'].map((name, i) =>
      exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=6', '-f', 'lavfi', '-i', `sine=frequency=${400 + 100 * i}:duration=6`,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', path.join(media, `${name}.mp4`)]),
    ),
  );
  server = await testServer(media, { ...NO_PREFETCH, segment_duration: 2, encoder: encoderWith({ preset: 'ultrafast', stall_timeout_seconds: 2 }) });
});
afterAll(async () => {
  await server?.close();
  if (previousFfmpeg === undefined) delete process.env.JITSEG_FFMPEG;
  else process.env.JITSEG_FFMPEG = previousFfmpeg;
});

/** What of a content is in the store: its segment files and its TranscodeFailed records. */
async function stored(hash: string, rendition: string) {
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
    const bad = await register(file);
    const good = await register('normal.mp4');
    const started = Date.now();
    const [failed, other] = await Promise.all([fetch(`${bad.base}/segment_2.m4s`), fetch(`${good.base}/segment_2.m4s`)]);
    expect(other.status).toBe(200);
    expect(failed.status).toBe(502);
    const body = await failed.json();
    expect(body.error).toBe('encode_failed');
    expect(body.message).toMatch(reason);
    expect(Date.now() - started).toBeLessThan(30_000);

    const { segments, records } = await stored(bad.hash, bad.rendition);
    expect(segments).toEqual([]);
    expect(records).toHaveLength(1);
    const record = JSON.parse(await readFile(path.join(server.cacheDir, bad.hash, 'logs', records[0]!), 'utf8'));
    expect(record).toMatchObject({ event: 'TranscodeFailed', content: bad.hash, segment: 2, attempts: 3 });
    // No work directory is left behind.
    expect(await readdir(path.join(server.cacheDir, 'tmp'))).toEqual([]);
    // The same request again is not served from anywhere: it fails again.
    expect((await fetch(`${bad.base}/segment_2.m4s`)).status).toBe(502);
  });

  it('a content that keeps failing is paused (fast 503 + Retry-After); its cached segments and other content are still served', async () => {
    const bad = await register('crash-me.mp4');
    const good = await register('normal.mp4');
    // crash-me's segment 2 failed twice in the test above; one more failed segment opens its breaker.
    expect((await fetch(`${bad.base}/segment_3.m4s`)).status).toBe(502);
    const encodesBefore = metricValue(await scrape(server.url), 'jitseg_transcodes_total');
    const started = Date.now();
    const paused = await fetch(`${bad.base}/segment_1.m4s`);
    expect(paused.status).toBe(503);
    expect(Number(paused.headers.get('retry-after'))).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(500);
    expect(metricValue(await scrape(server.url), 'jitseg_transcodes_total')).toBe(encodesBefore);
    expect((await fetch(`${good.base}/segment_3.m4s`)).status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
