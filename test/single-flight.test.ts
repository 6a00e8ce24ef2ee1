import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { startServer } from '../src/server.js';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { NO_PREFETCH, testServer } from './support/server.js';

/** One encode per segment within a process, and a store that outlives the process. */

async function register(url: string, file: string) {
  const registered = await (await fetch(`${url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json();
  const info = await (await fetch(`${url}${registered.urls.info}`)).json();
  return { hash: registered.hash as string, info };
}

describe('single-flight', () => {
  it('50 concurrent requests for one cold segment: one ffmpeg run, identical bytes (prefetch on)', async () => {
    const server = await testServer(await mediaFolder({ 'small.mp4': await testSource('small') }));
    try {
      const { hash, info } = await register(server.url, 'small.mp4');
      // The last segment: prefetch has nothing after it to add, so every encode counted is this one's.
      const url = `${server.url}/api/v1/content/${hash}/video/${info.renditions[0].id}/segment_${info.segments}.m4s`;
      const before = metricValue(await scrape(server.url), 'jitseg_transcodes_total');
      const bodies = await Promise.all(Array.from({ length: 50 }, async () => {
        const response = await fetch(url);
        expect(response.status).toBe(200);
        return Buffer.from(await response.arrayBuffer());
      }));
      for (const body of bodies) expect(body.equals(bodies[0]!)).toBe(true);
      const metrics = await scrape(server.url);
      expect(metricValue(metrics, 'jitseg_transcodes_total') - before).toBe(1);
      expect(metricValue(metrics, 'jitseg_transcodes_total', { kind: 'video', reason: 'request' })).toBe(1);
      expect(server.origin.counters.spansEncoded).toBe(1);
    } finally {
      await server.close();
    }
  });

  it('a client that goes away does not cancel the encode others wait for', async () => {
    const server = await testServer(await mediaFolder({ 'small.mp4': await testSource('small') }), NO_PREFETCH);
    try {
      const { hash, info } = await register(server.url, 'small.mp4');
      const url = `${server.url}/api/v1/content/${hash}/video/${info.renditions[0].id}/segment_2.m4s`;
      const leaving = new AbortController();
      const abandoned = fetch(url, { signal: leaving.signal }).catch((err: Error) => err);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const staying = fetch(url);
      leaving.abort();
      expect(await abandoned).toBeInstanceOf(Error);
      const response = await staying;
      expect(response.status).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
      expect(server.origin.counters.spansEncoded).toBe(1);
    } finally {
      await server.close();
    }
  });
});

describe('restart', () => {
  it('serves hash-addressed segments from the store after a restart without encoding or registering again', async () => {
    const media = await mediaFolder({ 'small.mp4': await testSource('small') });
    const first = await testServer(media, NO_PREFETCH);
    const { hash, info } = await register(first.url, 'small.mp4');
    const segmentPath = `/api/v1/content/${hash}/video/${info.renditions[0].id}/segment_1.m4s`;
    const before = Buffer.from(await (await fetch(`${first.url}${segmentPath}`)).arrayBuffer());
    await first.close();
    const index = JSON.parse(await readFile(path.join(first.cacheDir, 'index', 'content-ids.json'), 'utf8'));
    expect(Object.values(index).map((e: any) => e.hash)).toContain(hash);

    const second = await startServer({ mediaDir: media, cacheDir: first.cacheDir, port: 0, host: '127.0.0.1', streaming: { ...defaultStreamingConfig(), ...NO_PREFETCH } });
    try {
      const response = await fetch(`${second.url}${segmentPath}`);
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(before)).toBe(true);
      expect((await fetch(`${second.url}/api/v1/content/${hash}/manifest.mpd`)).status).toBe(200);
      expect(second.origin.counters.spansEncoded).toBe(0);
    } finally {
      await second.close();
    }
  });
});
