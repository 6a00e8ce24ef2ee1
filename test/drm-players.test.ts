import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, servePlayerPages, until, type PlayerState } from './support/browser.js';
import { drmStreaming, fetchOk, registerSigned, SEED, SIGN_KEY } from './support/drm.js';
import { lanes } from './support/lanes.js';
import { mediaFolder, testSource } from './support/media.js';
import { withPlayer, type PlayerKind } from './support/player-run.js';
import { testServer, type TestServer } from './support/server.js';

/**
 * Protected content plays in Chromium with ClearKey, its keys from jitseg's
 * key endpoint (signed for the content): Shaka Player (DASH and HLS), dash.js
 * and hls.js (fMP4, EME), in cenc and in cbcs. Each run plays, seeks three
 * times, switches rendition, and decodes frames without a player error.
 * Shaka Player over HLS with cbcs is not run: it takes ClearKey in HLS only
 * from an identity key, which jitseg writes for cenc only (manifest/protection.ts).
 */

type Scheme = 'cenc' | 'cbcs';
const RUNS: { scheme: Scheme; name: string; kind: PlayerKind; manifest: string }[] = [
  { scheme: 'cenc', name: 'Shaka Player (DASH)', kind: 'shaka', manifest: 'manifest.mpd' },
  { scheme: 'cenc', name: 'Shaka Player (HLS)', kind: 'shaka', manifest: 'master.m3u8' },
  { scheme: 'cenc', name: 'dash.js', kind: 'dash', manifest: 'manifest.mpd' },
  { scheme: 'cenc', name: 'hls.js', kind: 'hls', manifest: 'master.m3u8' },
  { scheme: 'cbcs', name: 'Shaka Player (DASH)', kind: 'shaka', manifest: 'manifest.mpd' },
  { scheme: 'cbcs', name: 'dash.js', kind: 'dash', manifest: 'manifest.mpd' },
  { scheme: 'cbcs', name: 'hls.js', kind: 'hls', manifest: 'master.m3u8' },
];

let browser: Browser;
let pages: { url: string; close: () => Promise<void> };
const origins = {} as Record<Scheme, { server: TestServer; hash: string; query: string; base: string }>;

beforeAll(async () => {
  const media = await mediaFolder({ 'protected.mp4': await testSource('drm360p') });
  // The two schemes' origins warm side by side (each one file at a time, its own prefetch beside it).
  await Promise.all(
    (['cenc', 'cbcs'] as const).map(async (scheme) => {
      const server = await testServer(media, drmStreaming(scheme), { signKey: SIGN_KEY, drmKeySeed: SEED });
      const signed = await registerSigned(server.url, 'protected.mp4');
      origins[scheme] = { server, ...signed };
      // Warm: every file made before a player asks, so what is measured is decryption, not encode latency.
      const info = (await (await fetch(`${signed.base}/info${signed.query}`)).json()) as { segments: number; renditions: { id: string }[]; audio: { id: string; segments: number }[] };
      const files = [
        ...info.renditions.flatMap((r) => ['init.mp4', ...Array.from({ length: info.segments }, (_, i) => `segment_${i + 1}.m4s`)].map((f) => `video/${r.id}/${f}`)),
        ...info.audio.flatMap((a) => ['init.mp4', ...Array.from({ length: a.segments }, (_, i) => `segment_${i + 1}.m4s`)].map((f) => `audio/${a.id}/${f}`)),
      ];
      for (const file of files) await fetchOk(`${signed.base}/${file}${signed.query}`);
    }),
  );
  [browser, pages] = await Promise.all([launchChromium(), servePlayerPages()]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  for (const { server } of Object.values(origins)) await server.close();
});

/** Two pages at a time, each its own player and key session (every check is within one page), on warm origins. */
const lane = lanes(2);
describe.concurrent('protected content plays in Chromium with ClearKey from the key endpoint', () => {
  for (const run of RUNS) {
    it(`${run.scheme}: ${run.name}`, () =>
      lane(async () => {
        const { hash, query, base, server } = origins[run.scheme];
        const clearKey = `${server.url}/api/v1/keys?content=${hash}&${query.slice(1)}`;
        // Shaka over HLS is told nothing: it finds the identity key in the playlist. hls.js gets the license URL (its EME config).
        await withPlayer(browser, pages.url, { label: `${run.scheme} ${run.name}`, kind: run.kind, url: `${base}/${run.manifest}${query}`, options: { clearKey, abr: false } }, async ({ page }) => {
          const started = await until(page, 'playing past 1 s', (s) => s.currentTime > 1 && s.decodedFrames > 0);
          let last: PlayerState = started;
          for (const target of [7, 10.5, 2]) {
            await page.evaluate((t) => (window as any).harness.seek(t), target);
            last = await until(page, `playing past ${target + 0.5} s after a seek to ${target}`, (s) => s.currentTime > target + 0.5 && s.currentTime < target + 3);
          }
          const other = last.heights.find((h) => h !== last.videoHeight);
          expect(other, `a second rendition (heights ${last.heights})`).toBeDefined();
          await page.evaluate((h) => (window as any).harness.select(h), other!);
          const switched = await until(page, `${other}p on screen`, (s) => s.videoHeight === other);
          expect(switched.decodedFrames).toBeGreaterThan(started.decodedFrames);
          expect(switched.events.fatal).toEqual([]);
          expect(switched.events.mediaErrors).toEqual([]);
        });
      }),
      180_000,
    );
  }
});
