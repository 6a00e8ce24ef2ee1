import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Profile } from '../src/config/config.js';
import { launchChromium, servePlayerPages, until } from './support/browser.js';
import { parseM3u8 } from './support/conformance.js';
import { cachedMedia } from './support/media-cache.js';
import { mediaFolder } from './support/media.js';
import { closePlayerRig, warm } from './support/player-run.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

/**
 * What players fetch before they play. hls.js starts on the variant the multivariant playlist lists first, and
 * that is the rendition fastest to make at a sensible start quality (the
 * smallest with at least 480 lines; manifest/hls.ts), not the largest.
 */

const PROFILES: Profile[] = [
  { name: '720p', width: 1280, height: 720, bitrate: 2500, quality: 30 },
  { name: '480p', width: 854, height: 480, bitrate: 1200, quality: 30 },
  { name: '360p', width: 640, height: 360, bitrate: 800, quality: 30 },
];

let origin: TestServer;
let media: string;
let pages: Awaited<ReturnType<typeof servePlayerPages>>;
let browser: Browser;

beforeAll(async () => {
  const source = await cachedMedia({
    file: 'ladder-1280x720-25.mp4',
    steps: [
      (output) => [
        '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25:duration=8',
        '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=8',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k', output,
      ],
    ],
  });
  media = await mediaFolder({ 'ladder.mp4': source });
  origin = await testServer(media, { ...NO_PREFETCH, segment_duration: 2, profiles: PROFILES, encoder: encoderWith({ preset: 'ultrafast' }) });
  // Every file of every rendition, three requests at a time, so play is warm: which level hls.js starts on is its choice alone.
  await warm(`${origin.url}/vod/ladder.mp4/master.m3u8`);
  pages = await servePlayerPages();
  browser = await launchChromium();
}, 300_000);

afterAll(() => closePlayerRig({ browser, pages, origin, media }));

describe('the start variant', () => {
  it('is listed first (480p of 720p, 480p, 360p) and hls.js starts on it', async () => {
    const masterUrl = `${origin.url}/vod/ladder.mp4/master.m3u8`;
    const master = parseM3u8(await (await fetch(masterUrl)).text());
    expect(master.playlists.map((p: any) => p.attributes.RESOLUTION.height)).toEqual([480, 720, 360]);

    const page = await browser.newPage();
    try {
      await page.goto(`${pages.url}?player=hls`);
      await page.evaluate((url) => (window as any).harness.start('hls', url), masterUrl);
      const started = await until(page, 'playback to start', (s) => s.currentTime > 0.3 && !s.paused && s.parsedFragments.length > 0);
      const first = started.parsedFragments[0]!;
      expect(started.heights[first.level]).toBe(480);
      expect(started.events.fatal).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('Shaka (HLS) fetches no segment beyond the first before it starts both streams (CLOSED-CAPTIONS=NONE: no caption probe)', async () => {
    const masterUrl = `${origin.url}/vod/ladder.mp4/master.m3u8`;
    const master = await (await fetch(masterUrl)).text();
    const variants = master.split('\n').filter((line) => line.startsWith('#EXT-X-STREAM-INF:'));
    expect(variants.length).toBe(PROFILES.length);
    for (const variant of variants) expect(variant).toContain('CLOSED-CAPTIONS=NONE');

    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (request) => {
      const file = /\/(video\/[^/]+|audio\/[^/]+)\/(init\.mp4|segment_\d+\.m4s)/.exec(request.url());
      if (file) requested.push(`${file[1]!.split('/')[0]}/${file[2]}`);
    });
    try {
      await page.goto(`${pages.url}?player=shaka`);
      await page.evaluate((url) => (window as any).harness.start('shaka', url), masterUrl);
      const started = await until(page, 'playback to start', (s) => s.currentTime > 0.3 && !s.paused);
      expect(started.events.fatal).toEqual([]);
      // Without the attribute Shaka reads the middle and the last video segment (here 2 and 4 of 4) for captions
      // before it loads any audio; the streaming engine asks for both streams' starts in one pass.
      const audioInit = requested.indexOf('audio/init.mp4');
      expect(audioInit).toBeGreaterThanOrEqual(0);
      expect(requested.slice(0, audioInit).filter((file) => file.startsWith('video/segment_') && file !== 'video/segment_1.m4s')).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
