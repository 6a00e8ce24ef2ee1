/**
 * A content whose first segment cannot be made for a reason in the content
 * itself is reported (OriginParts.onUnplayable, which the library uses to
 * stop offering it); a stall of our own, or a later segment, is not. The
 * ffmpeg is a wrapper around the real one that misbehaves only for files
 * named for it.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { silentLogger } from '../src/observe/log.js';
import { startServer, type RunningServer } from '../src/server.js';
import { exec, mediaFolder } from './support/media.js';
import { writeFakeFfmpeg } from './support/fake-ffmpeg.js';
import { encoderWith, NO_PREFETCH } from './support/server.js';

let server: RunningServer;
let previousFfmpeg: string | undefined;
const reported: Array<{ hash: string; reason: string }> = [];

beforeAll(async () => {
  const fake = await writeFakeFfmpeg('jitseg-unplayable-');
  previousFfmpeg = process.env.JITSEG_FFMPEG;
  process.env.JITSEG_FFMPEG = fake.ffmpeg;
  const media = await mediaFolder({});
  await Promise.all(
    ['hang-me', 'corrupt-me', 'kill-me'].map((name, i) =>
      exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=6', '-f', 'lavfi', '-i', `sine=frequency=${500 + 100 * i}:duration=6`,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', path.join(media, `${name}.mp4`)]),
    ),
  );
  const streaming = { ...defaultStreamingConfig(), ...NO_PREFETCH, segment_duration: 2, encoder: encoderWith({ preset: 'ultrafast', stall_timeout_seconds: 2 }) };
  server = await startServer(
    { mediaDir: media, cacheDir: await mkdtemp(path.join(os.tmpdir(), 'jitseg-cache-')), port: 0, host: '127.0.0.1', streaming },
    { logger: silentLogger(), onUnplayable: (hash, reason) => reported.push({ hash, reason }) },
  );
});
afterAll(async () => {
  await server?.close();
  if (previousFfmpeg === undefined) delete process.env.JITSEG_FFMPEG;
  else process.env.JITSEG_FFMPEG = previousFfmpeg;
});

async function register(name: string) {
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: name }) })).json();
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  return { hash: registered.hash as string, base: `${server.url}/api/v1/content/${registered.hash}/video/${info.renditions[0].id}` };
}

describe('a content that cannot be played', () => {
  it('is reported once its first segment fails for a reason in the content; a later segment is not reported', async () => {
    const { hash, base } = await register('corrupt-me.mp4');
    expect((await fetch(`${base}/segment_2.m4s`)).status).toBe(502);
    expect(reported).toEqual([]);
    expect((await fetch(`${base}/segment_1.m4s`)).status).toBe(502);
    expect(reported).toEqual([{ hash, reason: expect.stringMatching(/does not match the plan|packager/) }]);
    // The library stops offering it: 415 with the reason, without another encode.
    const after = await fetch(`${base}/segment_3.m4s`);
    expect(after.status).toBe(415);
    expect(reported).toHaveLength(1);
  });

  it('is not reported when the encode stalled (ours to fix, not the content\'s)', async () => {
    reported.length = 0;
    const { base } = await register('hang-me.mp4');
    const response = await fetch(`${base}/segment_1.m4s`);
    expect(response.status).toBe(502);
    expect((await response.json()).message).toMatch(/stalled/);
    expect(reported).toEqual([]);
  });

  it('is not reported when the encoder was killed by a signal (the OOM killer, an operator: not the content)', async () => {
    reported.length = 0;
    const { base } = await register('kill-me.mp4');
    const response = await fetch(`${base}/segment_1.m4s`);
    expect(response.status).toBe(502);
    expect((await response.json()).message).toMatch(/killed by SIGKILL/);
    expect(reported).toEqual([]);
    // Still offered: the next request tries again rather than answering 415.
    expect((await fetch(`${base}/segment_2.m4s`)).status).toBe(502);
  });
});
