/**
 * The packager's stall watchdog: Shaka Packager prints nothing while it
 * works, so a run that uses no CPU for the stall timeout (stopped, or
 * blocked for good) is killed, like an ffmpeg that reports no progress;
 * a busy one is left alone. A fake packager stands in for the real one
 * (JITSEG_PACKAGER), as the ffmpeg fault tests do for ffmpeg.
 */
import { chmod, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ProcessError, run } from '../src/process/runner.js';
import { mediaFolder, testSource } from './support/media.js';
import { encoderWith, NO_PREFETCH, testServer } from './support/server.js';

const FAKE_PACKAGER = `#!/bin/sh
case "$FAKE_MODE" in
  hang) exec sleep 600 ;;
  stop) kill -STOP $$ ;;
  busy) end=$(($(date +%s) + 3)); while [ "$(date +%s)" -lt "$end" ]; do :; done ;;
esac
`;

async function fakePackager(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-packager-'));
  const file = path.join(dir, 'packager');
  await writeFile(file, FAKE_PACKAGER);
  await chmod(file, 0o755);
  return file;
}

const saved = { packager: process.env.JITSEG_PACKAGER, mode: process.env.FAKE_MODE };
afterEach(() => {
  for (const [name, value] of [['JITSEG_PACKAGER', saved.packager], ['FAKE_MODE', saved.mode]] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('the packager stall watchdog', () => {
  it.each(['hang', 'stop'])('kills a packager that uses no CPU (%s)', async (mode) => {
    process.env.JITSEG_PACKAGER = await fakePackager();
    process.env.FAKE_MODE = mode;
    const failure = await run('packager', [], { stallTimeoutMs: 500 }).then(() => undefined, (err: unknown) => err);
    expect(failure).toBeInstanceOf(ProcessError);
    expect((failure as ProcessError).stalled).toBe(true);
    expect((failure as ProcessError).message).toMatch(/packager stalled: no progress for 500 ms/);
  });

  it('leaves a packager alone while it uses CPU, for longer than the stall timeout', async () => {
    process.env.JITSEG_PACKAGER = await fakePackager();
    process.env.FAKE_MODE = 'busy';
    await expect(run('packager', [], { stallTimeoutMs: 500 })).resolves.toBeDefined();
  });

  it('a stopped packager ends in a 502 naming the stall after every try, nothing cached, at the origin', async () => {
    process.env.JITSEG_PACKAGER = await fakePackager();
    process.env.FAKE_MODE = 'stop';
    const media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
    const server = await testServer(media, { ...NO_PREFETCH, segment_duration: 2, encoder: encoderWith({ preset: 'ultrafast', stall_timeout_seconds: 1, hwaccel: 'none' }) });
    try {
      const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
      const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
      const rendition = info.renditions[0].id;
      const response = await fetch(`${server.url}/api/v1/content/${registered.hash}/video/${rendition}/segment_2.m4s`);
      expect(response.status).toBe(502);
      expect(JSON.stringify(await response.json())).toMatch(/packager stalled/);
      const stored = await readdir(path.join(server.cacheDir, registered.hash, 'video', rendition)).catch(() => [] as string[]);
      expect(stored.filter((f) => f.endsWith('.m4s'))).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
