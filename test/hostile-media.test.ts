/**
 * Hostile media cannot hurt the server (issue 12): crafted files are answered
 * with 415 and a reason, or with a manifest that is valid and playable; the
 * event loop keeps answering while a probe runs; memory stays bounded; a
 * refused file is refused again from memory, not probed again.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeCounts, probeTestHooks } from '../src/probe/index.js';
import { killInstance, startInstance, type Instance } from './support/instances.js';
import { copyHostile, HOSTILE_FILES, makeHostileMedia } from './support/hostile-media.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';

let mediaDir: string;

beforeAll(async () => {
  mediaDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-hostile-'));
  await makeHostileMedia(mediaDir);
});

afterAll(async () => {
  await rm(mediaDir, { recursive: true, force: true });
});

const vod = (base: string, name: string) => `${base}/vod/${encodeURIComponent(name)}/master.m3u8`;

/** The value of one labelled series in a Prometheus text exposition (0 when absent). */
function series(metrics: string, name: string, outcome: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{outcome="${outcome}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** Peak resident set of a process (VmHWM), in MB. */
async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  expect(kb).toBeGreaterThan(0);
  return kb / 1024;
}

/** Attributes of the #EXT-X-STREAM-INF lines and the URIs after them. */
function variants(master: string): Array<{ attributes: string; uri: string }> {
  const lines = master.split('\n');
  const out: Array<{ attributes: string; uri: string }> = [];
  lines.forEach((line, i) => {
    if (line.startsWith('#EXT-X-STREAM-INF:')) out.push({ attributes: line, uri: lines[i + 1]!.trim() });
  });
  return out;
}

/** A manifest a player can use: finite positive numbers everywhere, and its first segment made. */
async function expectPlayable(base: string, master: string, expectedSize: string): Promise<void> {
  const streams = variants(master);
  expect(streams.length).toBeGreaterThan(0);
  for (const { attributes } of streams) {
    for (const key of ['BANDWIDTH', 'AVERAGE-BANDWIDTH', 'FRAME-RATE']) {
      const value = Number(new RegExp(`[:,]${key}=([^,]+)`).exec(attributes)?.[1]);
      expect(Number.isFinite(value) && value > 0, `${key} in ${attributes}`).toBe(true);
    }
  }
  // The ladder follows the decoded size: one rendition at the source's size, nothing upscaled.
  expect(streams.map((s) => /RESOLUTION=(\d+x\d+)/.exec(s.attributes)?.[1])).toEqual([expectedSize]);
  const mediaUrl = new URL(streams[0]!.uri, base + '/vod/x/');
  const media = await (await fetch(mediaUrl)).text();
  const durations = [...media.matchAll(/#EXTINF:([^,]+),/g)].map((m) => Number(m[1]));
  expect(durations.length).toBeGreaterThan(0);
  for (const d of durations) expect(Number.isFinite(d) && d > 0, `EXTINF:${d}`).toBe(true);
  const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(media)?.[1];
  const first = media.split('\n').find((l) => l.length > 0 && !l.startsWith('#'));
  expect(init && first).toBeTruthy();
  for (const uri of [init!, first!]) {
    const res = await fetch(new URL(uri, mediaUrl));
    expect(res.status, uri).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
  }
}

describe('hostile media against the real CLI', () => {
  let origin: Instance;
  let cacheDir: string;

  beforeAll(async () => {
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-hostile-cache-'));
    origin = await startInstance(['--media', mediaDir, '--cache', cacheDir], { JITSEG_LOG_LEVEL: 'error' });
  });

  afterAll(async () => {
    if (origin) await killInstance(origin);
    await rm(cacheDir, { recursive: true, force: true });
  });

  it('answers every crafted file with 415 and a reason, or a valid playable manifest, within 300 MB; refusals come from memory the second time', async () => {
    const refused = HOSTILE_FILES.filter((f) => f.expect === 'refused');
    for (const file of HOSTILE_FILES) {
      const res = await fetch(vod(origin.url, file.name));
      if (file.expect === 'refused') {
        expect(res.status, `${file.name}: ${file.why}`).toBe(415);
        const body = (await res.json()) as { error: string; message: string };
        expect(body.error).toBe('unsupported_media');
        expect(body.message.length, file.name).toBeGreaterThan(10);
      } else {
        expect(res.status, `${file.name}: ${file.why}`).toBe(200);
        await expectPlayable(origin.url, await res.text(), file.name === 'header-16k.mp4' ? '64x64' : '16x16');
      }
    }
    const before = await (await fetch(`${origin.url}/metrics`)).text();
    expect(series(before, 'jitseg_probes_total', 'refused')).toBe(refused.length);
    expect(series(before, 'jitseg_probes_total', 'remembered')).toBe(0);

    // Again: the same refusals, answered from memory, with no probe run.
    for (const file of refused) {
      const first = await fetch(vod(origin.url, file.name));
      expect(first.status, file.name).toBe(415);
    }
    const after = await (await fetch(`${origin.url}/metrics`)).text();
    expect(series(after, 'jitseg_probes_total', 'remembered')).toBe(refused.length);
    expect(series(after, 'jitseg_probes_total', 'refused')).toBe(refused.length);
    expect(series(after, 'jitseg_probes_total', 'streamable')).toBe(series(before, 'jitseg_probes_total', 'streamable'));

    expect(await peakRssMb(origin.child.pid!)).toBeLessThan(300);
  });
});

describe('the event loop while a probe runs', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await testServer(mediaDir, NO_PREFETCH);
  });

  afterAll(async () => {
    probeTestHooks.hold = undefined;
    probeTestHooks.onStart = undefined;
    await server?.close();
  });

  it('answers /healthz before the hostile request, while that probe holds its worker thread', async () => {
    const name = await copyHostile(mediaDir, 'claimed-samples.mp4', 'claimed-samples-held.mp4');
    const hold = new Int32Array(new SharedArrayBuffer(4));
    Atomics.store(hold, 0, 1);
    probeTestHooks.hold = hold;
    const started = new Promise<string>((resolve) => (probeTestHooks.onStart = resolve));
    const events: string[] = [];
    const hostile = fetch(vod(server.url, path.basename(name))).then((res) => {
      events.push('hostile answered');
      return res;
    });
    expect(await started).toBe(name);
    // The worker thread is blocked in this probe; the server's own thread must not be.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
      events.push('healthz answered');
    }
    probeTestHooks.hold = undefined;
    Atomics.store(hold, 0, 0);
    Atomics.notify(hold, 0);
    const res = await hostile;
    expect(res.status).toBe(415);
    expect(((await res.json()) as { message: string }).message).toMatch(/claims 200000000 entries/);
    expect(events).toEqual(['healthz answered', 'healthz answered', 'healthz answered', 'hostile answered']);
  });

  it('refuses a file it refused before without probing it again', async () => {
    const name = path.basename(await copyHostile(mediaDir, 'empty-edit.mp4', 'empty-edit-twice.mp4'));
    const first = await fetch(vod(server.url, name));
    expect(first.status).toBe(415);
    const reason = ((await first.json()) as { message: string }).message;
    const counts = probeCounts();
    const second = await fetch(vod(server.url, name));
    expect(second.status).toBe(415);
    expect(((await second.json()) as { message: string }).message).toBe(reason);
    const now = probeCounts();
    expect(now.remembered).toBe(counts.remembered + 1);
    expect(now.refused + now.streamable + now.error).toBe(counts.refused + counts.streamable + counts.error);
  });
});
