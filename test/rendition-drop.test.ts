/**
 * A rendition whose segments keep failing is left out of the multivariant
 * playlist and the MPD served from then on (hash and /vod entry points),
 * while the others keep playing. The failure is real: an ffmpeg wrapper
 * exits 1 for every encode that scales to the 270p rendition's size, and the
 * origin's three tries at each segment run as they would for a broken encoder.
 */
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DROP_AFTER_FAILURES, RenditionHealth } from '../src/coordinate/rendition-health.js';
import { EventBus } from '../src/observe/events.js';
import { silentLogger } from '../src/observe/log.js';
import type { Plan } from '../src/plan/plan.js';
import { parseM3u8, parseMpd } from './support/conformance.js';
import { exec, mediaFolder } from './support/media.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const FAILING = { width: 480, height: 270 };
let server: TestServer;
let previousFfmpeg: string | undefined;
const dropped: Array<{ content: string; rendition: string }> = [];

async function failingFfmpeg(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-drop-'));
  const script = path.join(dir, 'ffmpeg');
  await writeFile(script, `#!/bin/sh\ncase "$*" in *scale=w=${FAILING.width}:h=${FAILING.height}*) echo "refusing this rendition" >&2; exit 1 ;; esac\nexec ffmpeg "$@"\n`);
  await chmod(script, 0o755);
  return script;
}

async function clip(dir: string, name: string, tone: number): Promise<string> {
  const file = path.join(dir, name);
  await exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25:duration=6', '-f', 'lavfi', '-i', `sine=frequency=${tone}:duration=6`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', file]);
  return file;
}

async function register(file: string) {
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json();
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  const ids = Object.fromEntries(info.renditions.map((r: { id: string; height: number }) => [r.height, r.id]));
  return { hash: registered.hash as string, base: `${server.url}/api/v1/content/${registered.hash}`, ok: ids[360] as string, failing: ids[FAILING.height] as string };
}

/** The video renditions' heights each manifest offers, through both entry points. */
async function offered(file: string, hash: string) {
  const text = async (url: string) => (await fetch(url)).text();
  const hls = (body: string) => (parseM3u8(body).playlists ?? []).map((p: any) => p.attributes.RESOLUTION.height).sort();
  const dash = (body: string) => (parseMpd(body, { manifestUri: `${server.url}/x.mpd` }).playlists ?? []).map((p: any) => p.attributes.RESOLUTION.height).sort();
  return {
    hls: hls(await text(`${server.url}/api/v1/content/${hash}/master.m3u8`)),
    dash: dash(await text(`${server.url}/api/v1/content/${hash}/manifest.mpd`)),
    vodHls: hls(await text(`${server.url}/vod/${file}/master.m3u8`)),
    vodDash: dash(await text(`${server.url}/vod/${file}/manifest.mpd`)),
  };
}

const status = async (url: string) => (await fetch(url)).status;

beforeAll(async () => {
  previousFfmpeg = process.env.JITSEG_FFMPEG;
  process.env.JITSEG_FFMPEG = await failingFfmpeg();
  const dir = await mediaFolder({});
  await Promise.all([clip(dir, 'later.mp4', 440), clip(dir, 'first.mp4', 550)]);
  server = await testServer(dir, {
    ...NO_PREFETCH,
    segment_duration: 2,
    profiles: [
      { name: '360p', width: 640, height: 360, bitrate: 800, quality: 23 },
      { name: '270p', ...FAILING, bitrate: 500, quality: 23 },
    ],
    encoder: encoderWith({ preset: 'ultrafast' }),
  });
  server.events.subscribe((event) => {
    if (event.type === 'RenditionDropped') dropped.push({ content: event.content, rendition: event.rendition });
  });
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (previousFfmpeg === undefined) delete process.env.JITSEG_FFMPEG;
  else process.env.JITSEG_FFMPEG = previousFfmpeg;
});

describe('a failing rendition is left out of the manifests', () => {
  it(`after ${DROP_AFTER_FAILURES} failed segments in a row; the other rendition still plays`, async () => {
    const c = await register('later.mp4');
    const both = { hls: [270, 360], dash: [270, 360], vodHls: [270, 360], vodDash: [270, 360] };
    expect(await offered('later.mp4', c.hash)).toEqual(both);
    expect(await status(`${c.base}/video/${c.failing}/segment_2.m4s`)).toBe(502);
    // One failure is not enough.
    expect(await offered('later.mp4', c.hash)).toEqual(both);
    expect(await status(`${c.base}/video/${c.ok}/segment_2.m4s`)).toBe(200);
    // A success of another rendition between them does not clear this one's count.
    expect(await status(`${c.base}/video/${c.failing}/segment_3.m4s`)).toBe(502);
    expect(await offered('later.mp4', c.hash)).toEqual({ hls: [360], dash: [360], vodHls: [360], vodDash: [360] });
    expect(dropped).toEqual([{ content: c.hash, rendition: c.failing }]);
    for (const file of ['init.mp4', 'segment_1.m4s', 'segment_3.m4s']) expect(await status(`${c.base}/video/${c.ok}/${file}`), file).toBe(200);
  }, 120_000);

  it('at once when its first segment fails for a reason in the media, without refusing the content', async () => {
    const c = await register('first.mp4');
    expect(await status(`${c.base}/video/${c.failing}/segment_1.m4s`)).toBe(502);
    expect(await offered('first.mp4', c.hash)).toEqual({ hls: [360], dash: [360], vodHls: [360], vodDash: [360] });
    expect(dropped.at(-1)).toEqual({ content: c.hash, rendition: c.failing });
    for (const file of ['init.mp4', 'segment_1.m4s']) expect(await status(`${c.base}/video/${c.ok}/${file}`), file).toBe(200);
  }, 120_000);
});

describe('rendition health rules', () => {
  const plan = { renditions: [{ id: 'a' }, { id: 'b' }] } as unknown as Plan;
  it('the last video rendition offered is never dropped', () => {
    const health = new RenditionHealth(new EventBus('t'), silentLogger());
    expect(health.failed('h', plan, 'a', true)).toBe(true);
    expect(health.failed('h', plan, 'b', true)).toBe(false);
    expect(health.failed('h', plan, 'b', false)).toBe(false);
    expect([...health.dropped('h')]).toEqual(['a']);
  });

  it('a made segment clears the count of failures in a row', () => {
    const health = new RenditionHealth(new EventBus('t'), silentLogger());
    expect(health.failed('h', plan, 'a', false)).toBe(false);
    health.succeeded('h', 'a');
    expect(health.failed('h', plan, 'a', false)).toBe(false);
    expect(health.failed('h', plan, 'a', false)).toBe(true);
  });
});
