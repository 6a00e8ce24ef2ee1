import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.js';
import { mediaFolder, testSource } from './support/media.js';
import { encoderWith, testServer } from './support/server.js';

/**
 * Real players in a real browser: hls.js, dash.js and Shaka Player in Debian's
 * Chromium play a jitseg stream through the /vod and the hash entry points,
 * keep real-time pace, survive three seeks and a forced rendition switch.
 * The harness page is served from another origin than the media, so CORS is
 * exercised on every request, as in production.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const PLAYER_FILES: Record<string, string> = {
  '/players/hls.min.js': require.resolve('hls.js/dist/hls.min.js'),
  // dashjs's package exports hide its UMD bundle; its main entry is that bundle.
  '/players/dash.all.min.js': require.resolve('dashjs'),
  '/players/shaka-player.compiled.js': require.resolve('shaka-player/dist/shaka-player.compiled.js'),
  '/': path.join(here, 'browser/harness.html'),
};

interface PlayerState {
  currentTime: number;
  duration: number;
  paused: boolean;
  videoHeight: number;
  bufferedAhead: number;
  decodedFrames: number;
  droppedFrames: number;
  heights: number[];
  events: { fatal: string[]; nonFatal: string[]; mediaErrors: string[] };
}

let origin: Awaited<ReturnType<typeof testServer>>;
let pageServer: Server;
let pageUrl: string;
let browser: Browser;
let hash: string;

beforeAll(async () => {
  origin = await testServer(await mediaFolder({ 'clips/show.mp4': await testSource('browser360p') }), {
    profiles: [
      { name: '360p', width: 640, height: 360, bitrate: 900, quality: 26 },
      { name: '240p', width: 426, height: 240, bitrate: 400, quality: 28 },
    ],
    encoder: encoderWith({ preset: 'ultrafast' }),
  });
  hash = (await (await fetch(`${origin.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clips/show.mp4' }) })).json()).hash;
  pageServer = createServer(async (req, res) => {
    const file = PLAYER_FILES[new URL(req.url ?? '/', 'http://x').pathname];
    if (!file) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': file.endsWith('.html') ? 'text/html' : 'text/javascript' }).end(await readFile(file));
  });
  await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  pageUrl = `http://localhost:${(pageServer.address() as AddressInfo).port}/`;
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => pageServer?.close(resolve));
  await origin?.close();
});

async function state(page: Page): Promise<PlayerState> {
  return page.evaluate(() => {
    const s = (window as any).harness.state();
    const video = document.querySelector('video')!;
    let bufferedAhead = 0;
    for (let i = 0; i < video.buffered.length; i++) {
      if (video.buffered.start(i) <= video.currentTime + 0.1 && video.buffered.end(i) > video.currentTime) bufferedAhead = video.buffered.end(i) - video.currentTime;
    }
    return { ...s, bufferedAhead };
  });
}

async function until(page: Page, what: string, predicate: (s: PlayerState) => boolean, timeoutMs = 45_000): Promise<PlayerState> {
  const deadline = Date.now() + timeoutMs;
  let last = await state(page);
  while (!predicate(last)) {
    if (last.events.fatal.length > 0 || last.events.mediaErrors.length > 0) {
      throw new Error(`player failed while waiting for ${what}: ${JSON.stringify(last.events)}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last state ${JSON.stringify({ ...last, events: last.events })}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await state(page);
  }
  return last;
}

type PlayerKind = 'hls' | 'dash' | 'shaka';

const cases: { player: PlayerKind; entry: string; url: () => string }[] = [
  { player: 'hls', entry: '/vod', url: () => `${origin.url}/vod/clips/show.mp4/master.m3u8` },
  { player: 'hls', entry: 'hash', url: () => `${origin.url}/api/v1/content/${hash}/master.m3u8` },
  { player: 'dash', entry: '/vod', url: () => `${origin.url}/vod/clips/show.mp4/manifest.mpd` },
  { player: 'dash', entry: 'hash', url: () => `${origin.url}/api/v1/content/${hash}/manifest.mpd` },
  { player: 'shaka', entry: '/vod (DASH)', url: () => `${origin.url}/vod/clips/show.mp4/manifest.mpd` },
  { player: 'shaka', entry: 'hash (HLS)', url: () => `${origin.url}/api/v1/content/${hash}/master.m3u8` },
];

describe.each(cases)('$player through $entry', ({ player, url }) => {
  it('starts, keeps real-time pace, resumes after three seeks and across a rendition switch', async () => {
    const page = await browser.newPage();
    const console: string[] = [];
    page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
    try {
      await page.goto(pageUrl);
      await page.evaluate(([kind, source]) => (window as any).harness.start(kind, source), [player, url()] as const);

      // Playback starts.
      await until(page, 'playback to start', (s) => s.currentTime > 0.3 && !s.paused);

      // Real-time pace, measured once a few seconds are buffered so an encode cannot stall the window.
      await until(page, 'a buffer of 4 s', (s) => s.bufferedAhead >= 4);
      const before = await state(page);
      const startedAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const after = await state(page);
      const pace = (after.currentTime - before.currentTime) / ((Date.now() - startedAt) / 1000);
      expect(pace, 'playback pace (media seconds per wall second)').toBeGreaterThan(0.75);
      expect(pace).toBeLessThan(1.25);

      // Three seeks: forward, far forward, back. Each must resume playback past the target.
      const duration = after.duration;
      expect(duration).toBeGreaterThan(55);
      for (const target of [duration * 0.4, duration * 0.85, duration * 0.1]) {
        await page.evaluate((t) => (window as any).harness.seek(t), target);
        await until(page, `playback to resume after seeking to ${target.toFixed(1)} s`, (s) => s.currentTime > target + 1 && s.currentTime < target + 15 && !s.paused);
      }

      // A forced switch to the other rendition; playback continues on it.
      const current = await state(page);
      expect(current.heights.length, 'renditions offered').toBe(2);
      const other = current.heights.find((h) => h !== current.videoHeight) ?? Math.min(...current.heights);
      const switchedAt = current.currentTime;
      await page.evaluate((h) => (window as any).harness.select(h), other);
      const switched = await until(page, `a switch to ${other}p`, (s) => s.videoHeight === other && s.currentTime > switchedAt + 1.5 && !s.paused);

      expect(switched.decodedFrames).toBeGreaterThan(100);
      expect(switched.events.fatal).toEqual([]);
      expect(switched.events.mediaErrors).toEqual([]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nbrowser console:\n${console.slice(-30).join('\n')}`);
    } finally {
      await page.close();
    }
  });
});
