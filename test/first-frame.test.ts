/**
 * The first-frame decode check (src/probe/decode-check.ts) is off the
 * manifest path: a file whose headers and NAL structure are sound but whose
 * first picture does not decode now gets its manifest, and the first segment
 * (or init segment) it asks for is answered 415 with the reason, as is every
 * request for it after that. A first keyframe with no picture data at all is
 * still refused at the manifest (hostile-media.test.ts: garbage-mdat.mp4).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { UnsupportedMediaError } from '../src/errors.js';
import { MediaLibrary } from '../src/library/media-library.js';
import { probeSource, probeSourceDeferred, ProbeError } from '../src/probe/index.js';
import { ContentIdIndex } from '../src/store/content-id.js';
import { ContentStore } from '../src/store/content-store.js';
import { child, craftMp4, stblOf, trakOf, type Mp4Box } from './support/craft-mp4.js';
import { exec } from './support/media.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';

let mediaDir: string;
let server: TestServer;

/** H.264 slice NAL units (types 1-5) of the first video sample get a slice header of all ones: a P slice in an IDR, which no decoder accepts. */
function breakFirstPicture(boxes: Mp4Box[]): void {
  const stbl = stblOf(trakOf(boxes, 'vide'));
  const firstChunk = child(stbl, 'stco').payload!.readUInt32BE(8);
  const stsz = child(stbl, 'stsz').payload!;
  const firstSize = stsz.readUInt32BE(4) || stsz.readUInt32BE(12);
  // Every box before the mdat has a 32-bit header (craft-mp4 keeps no other).
  const at = boxes.findIndex((b) => b.type === 'mdat');
  const mdatBody = boxes.slice(0, at).reduce((sum, b) => sum + 8 + (b.payload?.length ?? 0), 0) + 8;
  const mdat = boxes[at]!.payload!;
  const start = firstChunk - mdatBody;
  let slices = 0;
  for (let p = start; p + 5 <= start + firstSize; ) {
    const length = mdat.readUInt32BE(p);
    const type = mdat[p + 4]! & 0x1f;
    if (type >= 1 && type <= 5) {
      mdat.fill(0xff, p + 5, p + 4 + length);
      slices++;
    }
    p += 4 + length;
  }
  if (slices === 0) throw new Error('no slice in the first sample');
}

beforeAll(async () => {
  mediaDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-first-frame-'));
  const base = path.join(mediaDir, '.base.mp4');
  await exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=25:duration=4', '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '0', '-g', '25', '-pix_fmt', 'yuv420p', base]);
  await craftMp4(base, path.join(mediaDir, 'broken-picture.mp4'), breakFirstPicture);
  await craftMp4(base, path.join(mediaDir, 'fine.mp4'), () => undefined);
  await exec('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=25:duration=3', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path.join(mediaDir, 'other.mp4')]);
  server = await testServer(mediaDir, { ...NO_PREFETCH, segment_duration: 2 });
});

afterAll(async () => {
  await server?.close();
  await rm(mediaDir, { recursive: true, force: true });
  await rm(server?.cacheDir ?? '', { recursive: true, force: true });
});

const vod = (name: string) => `${server.url}/vod/${name}/master.m3u8`;

/** The URL of the first segment of the master's first variant. */
async function firstSegmentUrl(master: string, masterUrl: string): Promise<string> {
  const variant = new URL(master.split('\n').find((l) => l.length > 0 && !l.startsWith('#'))!, masterUrl);
  const media = await (await fetch(variant)).text();
  return new URL(media.split('\n').find((l) => l.length > 0 && !l.startsWith('#'))!, variant).href;
}

describe('a first picture that does not decode', () => {
  it('is found by the probe with its check, and the check is handed back unrun by the deferred probe', async () => {
    const file = path.join(mediaDir, 'broken-picture.mp4');
    const deferred = await probeSourceDeferred(file);
    expect(deferred.firstFrame.picture?.codec).toBe('h264');
    const err = await probeSource(file).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ProbeError);
    expect((err as ProbeError).kind).toBe('impossible');
    expect((err as ProbeError).reason).toMatch(/first video frame does not decode/);
  });

  it('gets a manifest, then 415 with the reason for its first segment and for everything after', async () => {
    const res = await fetch(vod('broken-picture.mp4'));
    expect(res.status).toBe(200);
    const segment = await fetch(await firstSegmentUrl(await res.text(), vod('broken-picture.mp4')));
    expect(segment.status).toBe(415);
    expect(((await segment.json()) as { message: string }).message).toMatch(/first video frame does not decode/);
    expect((await fetch(vod('broken-picture.mp4'))).status).toBe(415);
  });

  it('leaves a file whose first picture decodes playable', async () => {
    const res = await fetch(vod('fine.mp4'));
    expect(res.status).toBe(200);
    const segment = await fetch(await firstSegmentUrl(await res.text(), vod('fine.mp4')));
    expect(segment.status).toBe(200);
    expect((await segment.arrayBuffer()).byteLength).toBeGreaterThan(0);
  });
});

describe('the record of a first frame that decoded', () => {
  async function library(cache: string): Promise<MediaLibrary> {
    const store = new ContentStore(cache);
    await store.init();
    const ids = new ContentIdIndex(cache);
    await ids.load();
    return new MediaLibrary(mediaDir, store, ids, defaultStreamingConfig());
  }

  it('spares a restarted library the decode for that content, and only for that one', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'jitseg-first-frame-cache-'));
    const previous = process.env.JITSEG_FFMPEG;
    try {
      const before = await library(cache);
      expect(await (await before.register('fine.mp4')).withSource(async () => 'made')).toBe('made');
      await before.register('other.mp4'); // probed and stored, never encoded: no record
      await before.close();

      // After the restart every ffmpeg fails: a decode check that runs finds a frame that "does not decode".
      process.env.JITSEG_FFMPEG = '/bin/false';
      const after = await library(cache);
      expect(await (await after.register('fine.mp4')).withSource(async () => 'made')).toBe('made');
      const other = await after.register('other.mp4');
      await expect(other.withSource(async () => 'made')).rejects.toBeInstanceOf(UnsupportedMediaError);
      await after.close();
    } finally {
      if (previous === undefined) delete process.env.JITSEG_FFMPEG;
      else process.env.JITSEG_FFMPEG = previous;
      await rm(cache, { recursive: true, force: true });
    }
  });
});
