import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Profile } from '../src/config/config.js';
import { initTimescale, summarizeFragment } from '../src/package/fmp4.js';
import { launchChromium, servePlayerPages, until, type PlayerState } from './support/browser.js';
import { corpusSource, parseM3u8 } from './support/conformance.js';
import { CORPUS } from './support/corpus.js';
import { mediaFolder } from './support/media.js';
import { closePlayerRig, EVERY_PLAYER, warm, withPlayer } from './support/player-run.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

/**
 * Every player puts audio where it belongs against the video, on a source
 * whose audio starts 0.5 s after its first picture: each track's first media
 * in the element's buffer sits where the segments' own timestamps put it.
 * Shaka outside sequence mode places an HLS segment at its playlist time, and
 * every media playlist starts at 0: without a date on each playlist
 * (EXT-X-PROGRAM-DATE-TIME, manifest/hls.ts) it put this audio 0.5 s early.
 */

const PROFILES: Profile[] = [{ name: '180p', width: 320, height: 180, bitrate: 250, quality: 30 }];
const LATE_AUDIO = CORPUS.find((item) => item.file === 'late-audio.mkv')!;
/** Shaka's playlist dates are to the millisecond (RFC 8216 §4.3.2.6); the others place by the segments' own ticks. */
const TOLERANCE_SECONDS = 0.0005 + 1e-6;

const PLAYERS = EVERY_PLAYER;

let origin: TestServer;
let media: string;
let pages: Awaited<ReturnType<typeof servePlayerPages>>;
let browser: Browser;
/** Audio's first sample minus video's first picture, from the first segments' own timestamps (seconds). */
let segmentOffset: number;

/** tfdt of a playlist's first segment, in seconds (video tfdt is its earliest presentation time: trun v1, no edit list). */
async function firstSegmentStart(playlistUrl: string): Promise<number> {
  const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
  const bytes = async (uri: string) => new Uint8Array(await (await fetch(new URL(uri, playlistUrl))).arrayBuffer());
  const init = await bytes(playlist.segments[0].map.uri);
  const segment = await bytes(playlist.segments[0].uri);
  return summarizeFragment(segment).baseMediaDecodeTime / initTimescale(init);
}

function firstBuffered(state: PlayerState, kind: 'audio' | 'video'): number {
  const buffers = state.buffered.filter((b) => b.mime.startsWith(`${kind}/`) && b.ranges.length > 0);
  expect(buffers, `one ${kind} SourceBuffer with media: ${JSON.stringify(state.buffered)}`).toHaveLength(1);
  return buffers[0]!.ranges[0]![0];
}

beforeAll(async () => {
  media = await mediaFolder({ 'late-audio.mkv': await corpusSource(LATE_AUDIO) });
  origin = await testServer(media, { ...NO_PREFETCH, segment_duration: 2, profiles: PROFILES, encoder: encoderWith({ preset: 'ultrafast' }) });
  const masterUrl = `${origin.url}/vod/late-audio.mkv/master.m3u8`;
  await warm(masterUrl);
  const master = parseM3u8(await (await fetch(masterUrl)).text());
  const audio = Object.values(master.mediaGroups.AUDIO.aac)[0] as { uri: string };
  segmentOffset = (await firstSegmentStart(new URL(audio.uri, masterUrl).href)) - (await firstSegmentStart(new URL(master.playlists[0].uri, masterUrl).href));
  pages = await servePlayerPages();
  browser = await launchChromium();
}, 300_000);

afterAll(() => closePlayerRig({ browser, pages, origin, media }));

describe('audio that starts 0.5 s after the video', () => {
  it('starts about 0.5 s after it in the segments themselves', () => {
    // 0.5 s less two AAC frames: the source's own priming frame (its first decoded sample, where the audio grid
    // starts) and ours (audio segment 1 begins with the encoder's priming frame); to the millisecond of the
    // source's Matroska clock.
    expect(Math.abs(segmentOffset - (0.5 - (2 * 1024) / 48_000))).toBeLessThan(0.001);
  });

  for (const player of PLAYERS) {
    it(`${player.name} buffers it that far after the first picture`, async () => {
      const url = `${origin.url}/vod/late-audio.mkv/${player.manifest}`;
      await withPlayer(browser, pages.url, { label: player.name, kind: player.kind, url }, async ({ page }) => {
        const state = await until(page, 'playback past 1 s', (s) => s.currentTime > 1 && !s.paused);
        expect(state.events.fatal).toEqual([]);
        const offset = firstBuffered(state, 'audio') - firstBuffered(state, 'video');
        expect(Math.abs(offset - segmentOffset), `audio − video in the element ${offset.toFixed(6)} s, in the segments ${segmentOffset.toFixed(6)} s`).toBeLessThanOrEqual(TOLERANCE_SECONDS);
      });
    });
  }
});
