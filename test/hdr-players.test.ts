import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, servePlayerPages, until } from './support/browser.js';
import { withPlayer, type PlayerKind } from './support/player-run.js';
import { exec } from './support/media.js';
import { encoderWith, testServer, type TestServer } from './support/server.js';

/**
 * `hdr: keep` puts an HEVC Main 10 rendition beside the H.264 ladder. A player
 * in a browser that cannot decode HEVC must leave it by its CODECS and play the
 * tone-mapped H.264 (issue 15 part 3): hls.js, dash.js and Shaka Player in
 * Debian's Chromium, through a segment join, without a player or media error.
 */

const CODECS = 'hvc1.2.4.L60.90';

let origin: TestServer;
let pages: Awaited<ReturnType<typeof servePlayerPages>>;
let browser: Browser;
let hevcSupported: boolean;

beforeAll(async () => {
  const media = await mkdtemp(path.join(os.tmpdir(), 'jitseg-hdrplayers-'));
  await exec('ffmpeg', [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25:duration=6',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=6',
    '-vf', 'format=yuv420p10le',
    '-c:v', 'libx265', '-preset', 'ultrafast',
    '-x265-params', 'log-level=error:keyint=50:min-keyint=50:scenecut=0:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:max-cll=1000,400',
    '-color_primaries', 'bt2020', '-color_trc', 'smpte2084', '-colorspace', 'bt2020nc', '-tag:v', 'hvc1',
    '-c:a', 'aac', '-b:a', '96k', path.join(media, 'hdr10.mp4'),
  ]);
  origin = await testServer(media, { segment_duration: 2, hdr: 'keep', encoder: encoderWith({ preset: 'ultrafast' }) });
  pages = await servePlayerPages();
  browser = await launchChromium();
  const page = await browser.newPage();
  hevcSupported = await page.evaluate((codecs) => MediaSource.isTypeSupported(`video/mp4; codecs="${codecs}"`), CODECS);
  await page.close();
});

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await origin?.close();
});

describe('players and the HDR-keeping HEVC rendition', () => {
  it('the manifests offer it', async () => {
    const master = await (await fetch(`${origin.url}/vod/hdr10.mp4/master.m3u8`)).text();
    expect(master).toContain(`CODECS="${CODECS},mp4a.40.2"`);
    expect(master).toContain('VIDEO-RANGE=PQ');
    expect(await (await fetch(`${origin.url}/vod/hdr10.mp4/manifest.mpd`)).text()).toContain(`codecs="${CODECS}"`);
  });

  // The three players side by side, each on its own page.
  it.concurrent.each(['hls', 'dash', 'shaka'] as PlayerKind[])('%s plays the H.264 ladder when Chromium cannot decode HEVC', async (kind) => {
    // What this test is about: a browser without HEVC. (Should this Chromium decode it, playing either is right.)
    const url = `${origin.url}/vod/hdr10.mp4/${kind === 'hls' ? 'master.m3u8' : 'manifest.mpd'}`;
    const state = await withPlayer(browser, pages.url, { label: kind, kind, url }, async ({ page }) =>
      // Past the first join (2 s), so the second segment was fetched and appended too.
      until(page, 'playback past 3.5 s', (s) => s.currentTime >= 3.5 && s.decodedFrames > 0),
    );
    expect(state.events.fatal, 'fatal player errors').toEqual([]);
    expect(state.events.mediaErrors, 'media element errors').toEqual([]);
    expect(state.videoHeight).toBe(180);
    if (!hevcSupported) {
      // The players listed only what the browser can decode: the one H.264 rendition.
      expect(state.heights, `${kind}: renditions offered to the viewer`).toEqual([180]);
    }
  });
});
