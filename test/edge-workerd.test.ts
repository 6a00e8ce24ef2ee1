/**
 * The edge's Workers entry on workerd (Cloudflare's runtime, through
 * miniflare from npm): the same app, bundled as Wrangler would, with the
 * Cache API as its cache and the request's own ctx.waitUntil for prefetch,
 * in front of a real origin. ffmpeg plays through it.
 */
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

let origin: TestServer;
let mf: Miniflare;
let edgeUrl: string;
let hash: string;
let rendition: string;

beforeAll(async () => {
  origin = await testServer(await mediaFolder({ 'clip.mp4': await testSource('small') }), { ...NO_PREFETCH, segment_duration: 2, encoder: encoderWith({ prefetch_nice: 0 }) });
  const registered = await (await fetch(`${origin.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
  hash = registered.hash;
  rendition = (await (await fetch(`${origin.url}${registered.urls.info}`)).json()).renditions[0].id;
  const bundle = await build({
    entryPoints: ['edge/src/worker.ts'],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    mainFields: ['module', 'main'],
    conditions: ['workerd', 'worker', 'browser'],
    write: false,
  });
  mf = new Miniflare({
    modules: true,
    script: bundle.outputFiles[0]!.text,
    compatibilityDate: '2026-04-01',
    bindings: { ORIGINS: origin.url, PREFETCH: '2' },
    host: '127.0.0.1',
    port: 0,
  });
  edgeUrl = (await mf.ready).toString().replace(/\/$/, '');
}, 120_000);
afterAll(async () => {
  await mf?.dispose();
  await origin?.close();
});

const segment = (n: number) => `/api/v1/content/${hash}/video/${rendition}/segment_${n}.m4s`;
const originRequests = async () => metricValue(await scrape(origin.url), 'jitseg_segment_latency_seconds_count');

describe('the edge on workerd', () => {
  it('serves segments from the Cache API, prefetches the next ones, and keeps Range and 304', async () => {
    const before = await originRequests();
    const first = await fetch(`${edgeUrl}${segment(1)}`);
    expect(first.status).toBe(200);
    expect(first.headers.get('x-cache')).toBe('MISS');
    expect(first.headers.get('x-origin')).toBe(origin.url);
    const body = Buffer.from(await first.arrayBuffer());
    const direct = Buffer.from(await (await fetch(`${origin.url}${segment(1)}`)).arrayBuffer());
    expect(body.equals(direct)).toBe(true);

    const again = await fetch(`${edgeUrl}${segment(1)}`);
    expect(again.headers.get('x-cache')).toBe('HIT');
    await again.arrayBuffer();
    // Prefetch (in the request's own ctx.waitUntil) warms segments 2 and 3, marked so the origin queues them as prefetch.
    // Wait until the edge holds segment 2: only-if-cached asks the edge's cache and never the origin.
    let warmed: Response | undefined;
    // However long the prefetch's encode takes on this machine (the test's timeout bounds it; its CPU priority is
    // normal here, since next to a CPU hog a nice-19 one gets next to none).
    while (!warmed) {
      const probe = await fetch(`${edgeUrl}${segment(2)}`, { headers: { 'Cache-Control': 'only-if-cached' } });
      await probe.arrayBuffer();
      if (probe.status === 200) warmed = probe;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(warmed?.headers.get('x-cache')).toBe('HIT');
    const metrics = await scrape(origin.url);
    expect(metricValue(metrics, 'jitseg_transcodes_total', { kind: 'video', reason: 'prefetch' })).toBeGreaterThanOrEqual(1);
    // The player's own requests (segment 1 through the edge and directly) are the only ones counted as requests.
    expect(await originRequests()).toBe(before + 2);
    const next = await fetch(`${edgeUrl}${segment(2)}`);
    expect(next.headers.get('x-cache')).toBe('HIT');
    await next.arrayBuffer();

    const etag = again.headers.get('etag')!;
    expect((await fetch(`${edgeUrl}${segment(1)}`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    const part = await fetch(`${edgeUrl}${segment(1)}`, { headers: { Range: 'bytes=0-99' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(body.subarray(0, 100))).toBe(true);
  });

  it('ffmpeg plays through it', async () => {
    const { stdout } = await exec('ffmpeg', ['-v', 'error', '-i', `${edgeUrl}/api/v1/content/${hash}/master.m3u8`, '-map', '0:v:0', '-c', 'copy', '-f', 'framecrc', '-'], { maxBuffer: 1 << 26 });
    expect(stdout.split('\n').filter((l) => /^\d+,/.test(l)).length).toBe(8 * 25);
  });
});
