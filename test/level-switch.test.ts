import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Profile } from '../src/config/config.js';
import { launchChromium, servePlayerPages, until, type PlayerState } from './support/browser.js';
import { corpusSource, parseM3u8 } from './support/conformance.js';
import type { CorpusItem } from './support/corpus.js';
import { mediaFolder, testSource } from './support/media.js';
import { encoderWith, NO_PREFETCH, testServer } from './support/server.js';

/**
 * hls.js in Chromium switches between every pair of video renditions, up and
 * down, during warm play, without a bufferAppendNoProgress, a stall or a jump
 * it was not asked for; and its own idea of where each fragment starts (from
 * the samples, ignoring edit lists) is the playlist's. On the B-frame source
 * and on a source whose MP4 has an edit list (a stream-copy cut between
 * keyframes).
 */

const PROFILES: Profile[] = [
  { name: '240p', width: 426, height: 240, bitrate: 400, quality: 28 },
  { name: '180p', width: 320, height: 180, bitrate: 250, quality: 28 },
  { name: '144p', width: 256, height: 144, bitrate: 150, quality: 30 },
];

/** 32 s at 25 fps with B-frames, cut at 1.3 s by stream copy: the MP4 starts on the keyframe at 0 and an edit list skips 1.3 s. */
const EDIT_LIST_SOURCE: CorpusItem = {
  name: 'MP4 edit list, 30.7 s',
  file: 'edit-list-switches.mp4',
  args: [
    '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=32',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=32',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '50', '-bf', '2', '-c:a', 'aac', '-b:a', '96k',
  ],
  post: (generated, final) => ['-ss', '1.3', '-i', generated, '-c', 'copy', '-y', final],
  expect: { audioTracks: 1 },
};

const SOURCES = [
  { name: 'the B-frame source', file: 'bframes.mp4', make: () => testSource('main1080p') },
  { name: 'an MP4 with an edit list', file: 'edit-list.mp4', make: () => corpusSource(EDIT_LIST_SOURCE) },
];

let origin: Awaited<ReturnType<typeof testServer>>;
let pages: Awaited<ReturnType<typeof servePlayerPages>>;
let browser: Browser;

/** Requests every file of every rendition, a few at a time, so play is warm: a stall can only be the player's or the stream's. */
async function warm(masterUrl: string): Promise<void> {
  const master = parseM3u8(await (await fetch(masterUrl)).text());
  const playlists = [...master.playlists.map((p: any) => p.uri), ...Object.values(master.mediaGroups.AUDIO?.aac ?? {}).map((a: any) => a.uri)];
  const urls: string[] = [];
  for (const uri of playlists) {
    const playlistUrl = new URL(uri, masterUrl).href;
    const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
    urls.push(new URL(playlist.segments[0].map.uri, playlistUrl).href, ...playlist.segments.map((s: any) => new URL(s.uri, playlistUrl).href));
  }
  const next = async (): Promise<void> => {
    for (let url = urls.shift(); url; url = urls.shift()) {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${url}: ${response.status}`);
    }
  };
  await Promise.all([next(), next(), next()]);
}

/** Playlist start time of each fragment, by its media sequence number (hls.js's sn; the playlists start at EXT-X-MEDIA-SEQUENCE:0). */
async function playlistStarts(masterUrl: string): Promise<number[]> {
  const master = parseM3u8(await (await fetch(masterUrl)).text());
  const playlist = parseM3u8(await (await fetch(new URL(master.playlists[0].uri, masterUrl))).text());
  const starts: number[] = [];
  let at = 0;
  for (const segment of playlist.segments) {
    starts.push(at);
    at += segment.duration;
  }
  return starts;
}

beforeAll(async () => {
  const files: Record<string, string> = {};
  for (const source of SOURCES) files[source.file] = await source.make();
  origin = await testServer(await mediaFolder(files), { ...NO_PREFETCH, segment_duration: 2, profiles: PROFILES, encoder: encoderWith({ preset: 'ultrafast' }) });
  await Promise.all(SOURCES.map((source) => warm(`${origin.url}/vod/${source.file}/master.m3u8`)));
  pages = await servePlayerPages();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await origin?.close();
});

/** a→b→c→a→c→b→a: every ordered pair of the three renditions once. */
function everyPair(heights: number[], start: number): number[] {
  const [b, c] = heights.filter((h) => h !== start);
  if (heights.length !== 3 || b === undefined || c === undefined) throw new Error(`expected three renditions, got ${heights.join(', ')}`);
  return [b, c, start, c, b, start];
}

/** Asks for a switch and waits until the new rendition is on screen. */
async function switchTo(page: Page, height: number): Promise<PlayerState> {
  await page.evaluate((h) => (window as any).harness.switchNext(h), height);
  return until(page, `${height}p on screen`, (s) => s.videoHeight === height);
}

// Both sources play at once (one page each), to keep the run short.
describe.concurrent.each(SOURCES)('hls.js on $name', (source) => {
  it('switches up and down between every pair of renditions during play, without a stall, a jump or a no-progress append', async () => {
    const masterUrl = `${origin.url}/vod/${source.file}/master.m3u8`;
    const starts = await playlistStarts(masterUrl);
    const page = await browser.newPage();
    const log: string[] = [];
    page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    try {
      await page.goto(pages.url);
      await page.evaluate((url) => (window as any).harness.start('hls', url), masterUrl);
      const started = await until(page, 'playback to start', (s) => s.currentTime > 0.3 && !s.paused && s.videoHeight > 0);
      const sequence = everyPair([...started.heights].sort((x, y) => y - x), started.videoHeight);
      let last = started;
      for (const height of sequence) last = await switchTo(page, height);
      // And play goes on after the last switch.
      const end = await until(page, 'a second of play after the last switch', (s) => s.currentTime > last.currentTime + 1);

      // hls.js's own start of every fragment it parsed, from the samples, is the playlist's.
      expect(end.parsedFragments.length).toBeGreaterThan(sequence.length);
      for (const fragment of end.parsedFragments) {
        const planned = starts[fragment.sn];
        expect(planned, `fragment ${fragment.sn} in the playlist`).toBeDefined();
        expect(Math.abs(fragment.startPTS - planned!), `level ${fragment.level} fragment ${fragment.sn}: hls.js start ${fragment.startPTS}, playlist ${planned}`).toBeLessThan(0.001);
      }
      expect(end.events.fatal, 'fatal errors').toEqual([]);
      expect(end.events.mediaErrors, 'media element errors').toEqual([]);
      // Strict: not even a recovered one (bufferAppendNoProgress, bufferStalledError, bufferNudgeOnStall, bufferSeekOverHole…).
      // The one exception is hls.js's report of its own abort (ErrorDetails.INTERNAL_ABORTED, "aborted"): the switch
      // this test forces flushes the forward buffer (nextLevelSwitch → scheduleTrackSwitch), which aborts a fragment
      // still loading — on a loaded machine a load is often in flight. No request failed and nothing was appended.
      const selfAborted = 'networkError:aborted';
      expect(end.events.nonFatal.filter((e) => e !== selfAborted), 'non-fatal hls.js errors').toEqual([]);
      const sincePlaying = end.mediaEvents.slice(end.mediaEvents.findIndex((e) => e.type === 'playing'));
      expect(sincePlaying.filter((e) => e.type === 'waiting'), 'stalls (waiting) during play').toEqual([]);
      expect(sincePlaying.filter((e) => e.type === 'seeking'), 'jumps (seeking) nobody asked for').toEqual([]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\nbrowser console:\n${log.slice(-30).join('\n')}`);
    } finally {
      await page.close();
    }
  });
});
