/**
 * The edge worker on Node in front of two real origin processes: players
 * (ffmpeg, and hls.js in Chromium) stream through it; 50 concurrent requests
 * for a cold segment make one origin request; the next segment is an edge
 * hit thanks to prefetch; 304 and Range work end to end; when the origin a
 * content lives on is killed, the edge fails over and playback continues.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.js';
import { startNodeEdge, type NodeEdge } from '../edge/src/node.js';
import { exec, mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { killInstance, startInstance, type Instance } from './support/instances.js';

// drm360p: browser360p's recipe at 12 s (six 2 s segments: the tests below use segments 3, 4 and the last), 25 fps.
const SOURCE_FRAMES = 12 * 25;

let origins: Instance[] = [];
let edge: NodeEdge;
let hash: string;
let renditions: Array<{ id: string; name: string }>;
let segments: number;
/** A second content that nothing touches before the failover test. */
let otherHash: string;

beforeAll(async () => {
  const media = await mediaFolder({ 'show.mp4': await testSource('drm360p'), 'other.mp4': await testSource('small') });
  const work = await mkdtemp(path.join(os.tmpdir(), 'jitseg-edge-'));
  const config = path.join(work, 'config.yaml');
  await writeFile(
    config,
    [
      'streaming:',
      '  segment_duration: 2',
      '  prefetch: { enabled: false }',
      // The edge's prefetches at normal CPU priority: a nice-19 prefetch next to a CPU hog gets next to no CPU, and these
      // tests are about the edge, not priority (test/preemption.test.ts covers that).
      '  encoder: { preset: ultrafast, prefetch_nice: 0, degrade: { enabled: false } }',
      '  profiles:',
      '    - { name: "360p", width: 640, height: 360, bitrate: 900, quality: 26 }',
      '    - { name: "240p", width: 426, height: 240, bitrate: 400, quality: 28 }',
      '',
    ].join('\n'),
  );
  origins = await Promise.all(['a', 'b'].map((n) => startInstance(['--media', media, '--cache', path.join(work, `cache-${n}`), '--config', config])));
  edge = await startNodeEdge({ origins: origins.map((o) => o.url), port: 0, prefetch: 2 });
  for (const origin of origins) {
    const registered = await (await fetch(`${origin.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'show.mp4' }) })).json();
    hash = registered.hash;
    otherHash = (await (await fetch(`${origin.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'other.mp4' }) })).json()).hash;
  }
  const info = await (await fetch(`${edge.url}/api/v1/content/${hash}/info`)).json();
  renditions = info.renditions;
  segments = info.segments;
}, 120_000);
afterAll(async () => {
  await edge?.close();
  await Promise.all(origins.map(killInstance));
});

const segmentPath = (rendition: string, n: number) => `/api/v1/content/${hash}/video/${rendition}/segment_${n}.m4s`;
/** Segment requests the origins have answered (their latency histogram's count). */
const originRequests = async () =>
  (await Promise.all(origins.filter((o) => o.child.exitCode === null && o.child.signalCode === null).map(async (o) => metricValue(await scrape(o.url), 'jitseg_segment_latency_seconds_count')))).reduce((a, b) => a + b, 0);

async function framesThrough(url: string): Promise<number> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-i', url, '-map', '0:v:0', '-c', 'copy', '-f', 'framecrc', '-'], { maxBuffer: 1 << 26 });
  return stdout.split('\n').filter((l) => /^\d+,/.test(l)).length;
}

describe('the edge on Node', () => {
  it('collapses 50 concurrent requests for a cold segment into one origin request', async () => {
    const before = await originRequests();
    // The last segment: there is nothing after it to prefetch, so every origin request counted is this one.
    const responses = await Promise.all(Array.from({ length: 50 }, () => fetch(`${edge.url}${segmentPath(renditions[0]!.id, segments)}`)));
    const bodies = await Promise.all(responses.map(async (r) => Buffer.from(await r.arrayBuffer())));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    for (const b of bodies) expect(b.equals(bodies[0]!)).toBe(true);
    const how = responses.map((r) => r.headers.get('x-cache'));
    expect(how.filter((h) => h === 'MISS')).toHaveLength(1);
    expect(how.filter((h) => h === 'COLLAPSED').length).toBeGreaterThan(0);
    expect(await originRequests()).toBe(before + 1);
  });

  it('prefetch makes the next segment an edge hit', async () => {
    const rendition = renditions[0]!.id;
    const first = await fetch(`${edge.url}${segmentPath(rendition, 3)}`);
    expect(first.headers.get('x-cache')).toBe('MISS');
    await first.arrayBuffer();
    // However long the prefetch's encode takes on this machine (the test's timeout bounds it): then a hit.
    while (!(await edge.edge.cache.has(segmentPath(rendition, 4)))) await new Promise((r) => setTimeout(r, 50));
    const next = await fetch(`${edge.url}${segmentPath(rendition, 4)}`);
    expect(next.status).toBe(200);
    expect(next.headers.get('x-cache')).toBe('HIT');
  });

  it('keeps ETag/304 and Range semantics end to end', async () => {
    const url = `${edge.url}${segmentPath(renditions[0]!.id, 3)}`;
    const full = await fetch(url);
    const body = Buffer.from(await full.arrayBuffer());
    const etag = full.headers.get('etag')!;
    expect(etag).toMatch(/^"/);
    expect(full.headers.get('cache-control')).toMatch(/immutable/);
    expect((await fetch(url, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    const part = await fetch(url, { headers: { Range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${body.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(body.subarray(100, 200))).toBe(true);
    expect((await fetch(url, { headers: { Range: `bytes=${body.length}-` } })).status).toBe(416);
    // Manifests pass through with a short TTL.
    const master = await fetch(`${edge.url}/api/v1/content/${hash}/master.m3u8`);
    expect(master.status).toBe(200);
    expect(await master.text()).toMatch(/^#EXTM3U/);
  });

  it('ffmpeg plays HLS and DASH through the edge, frame for frame', async () => {
    expect(await framesThrough(`${edge.url}/api/v1/content/${hash}/master.m3u8`)).toBe(SOURCE_FRAMES);
    expect(await framesThrough(`${edge.url}/api/v1/content/${hash}/manifest.mpd`)).toBe(SOURCE_FRAMES);
  });

  it('hls.js in Chromium plays through the edge (the UI and the API pass through too)', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${edge.url}/#/play/${hash}`);
      await page.waitForFunction(() => ((window as any).__player?.video.currentTime ?? 0) > 2, null, { timeout: 60_000 });
    } finally {
      await browser.close();
    }
  });

  it('fails over when the origin of a content is killed, and playback continues', async () => {
    const info = await (await fetch(`${edge.url}/api/v1/content/${otherHash}/info`)).json();
    const video = (n: number) => `/api/v1/content/${otherHash}/video/${info.renditions[0].id}/segment_${n}.m4s`;
    const first = await fetch(`${edge.url}${video(1)}`);
    await first.arrayBuffer();
    expect(first.headers.get('x-cache')).toBe('MISS');
    const home = first.headers.get('x-origin')!;
    const victim = origins.find((o) => o.url === home)!;
    const survivor = origins.find((o) => o !== victim)!;
    await killInstance(victim);
    // What the edge has not cached comes from the other origin now.
    const response = await fetch(`${edge.url}/api/v1/content/${otherHash}/audio/${info.audio[0].id}/segment_1.m4s`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-cache')).toBe('MISS');
    expect(response.headers.get('x-origin')).toBe(survivor.url);
    // And the whole stream plays through the edge without the dead origin.
    expect(await framesThrough(`${edge.url}/api/v1/content/${otherHash}/master.m3u8`)).toBe(8 * 25);
    await edge.edge.checkOrigins();
    const health = await (await fetch(`${edge.url}/edge/healthz`)).json();
    expect(health.origins.find((o: { url: string }) => o.url === home).healthy).toBe(false);
  });
});

describe('signed URLs at the edge', () => {
  it('refuses unsigned and tampered URLs before anything reaches an origin, and passes signed ones', async () => {
    const { createServer } = await import('node:http');
    const { createEdgeApp } = await import('../edge/src/edge.js');
    const { MemoryEdgeCache } = await import('../edge/src/cache.js');
    const { UrlSigner } = await import('../src/http/signing.js');
    const seen: string[] = [];
    const origin = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'video/mp4', ETag: '"x"' }).end('segment-bytes');
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    const key = 'edge-test-key-0123456789abcdef';
    const signed = createEdgeApp({ origins: [`http://127.0.0.1:${(origin.address() as { port: number }).port}`], cache: new MemoryEdgeCache(), prefetch: 0, signKey: key });
    try {
      const path = `/api/v1/content/${'a'.repeat(64)}/video/r/segment_1.m4s`;
      const query = await new UrlSigner(key).query(UrlSigner.contentScope('a'.repeat(64)), Math.floor(Date.now() / 1000) + 60);
      expect((await signed.app.fetch(new Request(`http://edge${path}`))).status).toBe(403);
      // Tampered: the signature's first character changed (always to a different one).
      const tampered = query.replace(/sig=(.)/, (_, first: string) => `sig=${first === 'A' ? 'B' : 'A'}`);
      expect(tampered).not.toBe(query);
      expect((await signed.app.fetch(new Request(`http://edge${path}${tampered}`))).status).toBe(403);
      expect(seen).toEqual([]);
      const ok = await signed.app.fetch(new Request(`http://edge${path}${query}`));
      expect(ok.status).toBe(200);
      expect(await ok.text()).toBe('segment-bytes');
      expect(seen).toEqual([`${path}${query}`]); // the origin gets the signature too (it may check it as well)
    } finally {
      origin.close();
    }
  });
});
