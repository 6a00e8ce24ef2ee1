import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Profile } from '../src/config/config.js';
import { launchChromium, servePlayerPages, until } from './support/browser.js';
import { corpusSource } from './support/conformance.js';
import { BROADCAST_H264_TS, FRAME_CODE } from './support/corpus.js';
import { mediaFolder } from './support/media.js';
import { EVERY_PLAYER, expectFramesChecked, expectNoSkip, expectNoStall, warm, withPlayer, type PlayerKind } from './support/player-run.js';
import { encoderWith, testServer } from './support/server.js';

/**
 * A broadcast-style MPEG-TS source (H.264 with B-frames + AAC, timestamps
 * starting at 2.8 s as ffmpeg writes them with -output_ts_offset 1.4 and its
 * default 1.4 s mux delay, audio a little before video) plays from the start
 * in Shaka Player (HLS and DASH), hls.js and dash.js, cold and then warm five
 * times each, without a skip: no gap jump, no seek nobody asked for, no
 * presented frame ahead of the clock, no frame shown at another time than its
 * own (each frame carries its number), no error (issue 13: Shaka-HLS jumped
 * from 1.653 s to 6.001 s in 2 of 5 warm runs of such a stream). The stream is
 * 12 s long (the players play its first 8 s and buffer the rest), so each of
 * the four origins encodes 12 s of it, not 30.
 */

const PROFILES: Profile[] = [
  { name: '240p', width: 426, height: 240, bitrate: 400, quality: 28 },
  { name: '180p', width: 320, height: 180, bitrate: 250, quality: 28 },
];

/** Far enough to cross the first two segment joins (2 s and 6 s with the default 4 s segments). */
const PLAY_TO = 8;
const WARM_RUNS = 5;

let media: string;
let pages: Awaited<ReturnType<typeof servePlayerPages>>;
let browser: Browser;

beforeAll(async () => {
  media = await mediaFolder({ 'broadcast.ts': await corpusSource(BROADCAST_H264_TS) });
  pages = await servePlayerPages();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pages?.close();
});

/**
 * Cold, a segment may still be encoding when the player needs it: a stall is then no skip, and hls.js reports
 * each stall as a non-fatal bufferStalledError. Warm runs tolerate none (and no waiting at all).
 */
const COLD_STALL: Record<PlayerKind, string[]> = { hls: ['mediaError:bufferStalledError'], dash: [], shaka: [] };

// One origin (one cold cache) per player, the players side by side.
describe.concurrent.each(EVERY_PLAYER)('$name on an MPEG-TS source', ({ kind, manifest }) => {
  it(`plays from the start without a skip, cold once and warm ${WARM_RUNS} times`, async () => {
    const origin = await testServer(media, { profiles: PROFILES, encoder: encoderWith({ preset: 'ultrafast' }) });
    try {
      const url = `${origin.url}/vod/broadcast.ts/${manifest}`;
      const play = (label: string, warmRun: boolean) =>
        withPlayer(browser, pages.url, { label, kind, url, options: { frameCode: { ...FRAME_CODE, fps: 25 } } }, async ({ page, log }) => {
          const end = await until(page, `play to ${PLAY_TO} s`, (s) => s.currentTime > PLAY_TO, 90_000);
          expect(end.presentedFrames, 'frames presented').toBeGreaterThan(0);
          expectNoSkip(end, log, warmRun ? [] : COLD_STALL[kind]);
          expectFramesChecked(end, 25);
          if (warmRun) expectNoStall(end);
        });
      // Cold: segments are encoded as the player asks (a stall while one encodes is not a skip).
      await play('cold run', false);
      await warm(`${origin.url}/vod/broadcast.ts/master.m3u8`);
      for (let run = 0; run < WARM_RUNS; run++) await play(`warm run ${run + 1}`, true);
    } finally {
      await origin.close();
    }
  });
});
