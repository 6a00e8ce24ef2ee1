import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Profile } from '../src/config/config.js';
import { launchChromium, servePlayerPages, until, type PlayerState } from './support/browser.js';
import { corpusSource, parseM3u8 } from './support/conformance.js';
import { BROADCAST_H264_TS, FRAME_CODE, frameCodeFilter, type CorpusItem } from './support/corpus.js';
import { mediaFolder, testSource } from './support/media.js';
import { everyPair, EVERY_PLAYER, expectFramesChecked, expectNoSkip, expectNoStall, switchTo, warm, withPlayer, type PlayerKind } from './support/player-run.js';
import { encoderWith, testServer } from './support/server.js';

/**
 * hls.js, dash.js and Shaka Player (its DASH and its HLS path) in Chromium,
 * ABR off, switch between every pair of video renditions, up and down, during
 * warm play, without a player error (hls.js: no bufferAppendNoProgress), a
 * stall, a jump nobody asked for (a seek, a gap jump the player reports, a
 * presented frame ahead of the wall clock or back, no frame shown at another
 * time than its own, read from the frame); and hls.js's own idea of
 * where each fragment starts (from the samples, ignoring edit lists) is the
 * playlist's. On the B-frame source, a source whose MP4 has an edit list (a
 * stream-copy cut between keyframes) and a broadcast-style MPEG-TS source.
 */

const PROFILES: Profile[] = [
  { name: '240p', width: 426, height: 240, bitrate: 400, quality: 28 },
  { name: '180p', width: 320, height: 180, bitrate: 250, quality: 28 },
  { name: '144p', width: 256, height: 144, bitrate: 150, quality: 30 },
];

/**
 * 32 s at 25 fps with B-frames, cut at 1.3 s by stream copy: the MP4 starts on the keyframe at 0 and an edit list
 * skips 1.3 s. Each frame carries its number (frameCodeFilter).
 */
const EDIT_LIST_SOURCE: CorpusItem = {
  name: 'MP4 edit list, 30.7 s',
  file: 'edit-list-switches-coded.mp4',
  args: [
    '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=32',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=32',
    '-vf', frameCodeFilter(),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '50', '-bf', '2', '-c:a', 'aac', '-b:a', '96k',
  ],
  post: (generated, final) => ['-ss', '1.3', '-i', generated, '-c', 'copy', '-y', final],
  expect: { audioTracks: 1 },
};

/**
 * The frame-coded sources (25 fps) tell the page which frame is on screen; the B-frame source does not. The B-frame
 * source is main1080p's streams at 360p: every rendition here is smaller than either, so the cuts, timing and scaling
 * are the same, and warming it decodes a ninth of the pixels.
 */
const CODED = { ...FRAME_CODE, fps: 25 };
const SOURCES = [
  { name: 'the B-frame source', file: 'bframes.mp4', make: () => testSource('main360p'), frameCode: undefined },
  { name: 'an MP4 with an edit list', file: 'edit-list.mp4', make: () => corpusSource(EDIT_LIST_SOURCE), frameCode: CODED },
  { name: 'an MPEG-TS source', file: 'broadcast.ts', make: () => corpusSource(BROADCAST_H264_TS), frameCode: CODED },
];

const PLAYERS = EVERY_PLAYER;

/**
 * hls.js's report of its own abort (ErrorDetails.INTERNAL_ABORTED, "aborted"): the switch this test forces flushes
 * the forward buffer (nextLevelSwitch → scheduleTrackSwitch), which aborts a fragment still loading — on a loaded
 * machine a load is often in flight. No request failed and nothing was appended. Every other non-fatal error
 * (bufferAppendNoProgress, bufferStalledError, bufferNudgeOnStall, bufferSeekOverHole…) fails the test.
 */
const SELF_ABORTED: Record<PlayerKind, string[]> = { hls: ['networkError:aborted'], dash: [], shaka: [] };

let origin: Awaited<ReturnType<typeof testServer>>;
let pages: Awaited<ReturnType<typeof servePlayerPages>>;
let browser: Browser;

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
  // Prefetch stays on (as in production); warm() has every segment made before a player starts.
  origin = await testServer(await mediaFolder(files), { segment_duration: 2, profiles: PROFILES, encoder: encoderWith({ preset: 'ultrafast' }) });
  // One source after another, three requests in flight (enough for two cores): nine at once queued past max_wait_seconds (503) at load 20.
  for (const source of SOURCES) await warm(`${origin.url}/vod/${source.file}/master.m3u8`);
  pages = await servePlayerPages();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await origin?.close();
});

/** hls.js's own start of every fragment it parsed, from the samples, is the playlist's. */
function expectHlsJsFragmentStarts(end: PlayerState, starts: number[], switches: number): void {
  expect(end.parsedFragments.length).toBeGreaterThan(switches);
  for (const fragment of end.parsedFragments) {
    const planned = starts[fragment.sn];
    expect(planned, `fragment ${fragment.sn} in the playlist`).toBeDefined();
    expect(Math.abs(fragment.startPTS - planned!), `level ${fragment.level} fragment ${fragment.sn}: hls.js start ${fragment.startPTS}, playlist ${planned}`).toBeLessThan(0.001);
  }
}

// Two players at a time, each on the three sources at once: six pages (vitest.config's maxConcurrency lets all six run).
const ROUNDS = [PLAYERS.slice(0, 2), PLAYERS.slice(2)].map((players) => ({ names: players.map((p) => p.name).join(' and '), players }));
describe.each(ROUNDS)('$names', ({ players }) => {
  describe.concurrent.each(players.flatMap((player) => SOURCES.map((source) => ({ ...player, source }))))('$name on $source.name', ({ kind, manifest, source }) => {
    it('switches up and down between every pair of renditions during play, without a stall, a jump or a player error', async () => {
      const url = `${origin.url}/vod/${source.file}/${manifest}`;
      const starts = kind === 'hls' ? await playlistStarts(url) : [];
      await withPlayer(browser, pages.url, { label: `${kind} ${manifest}`, kind, url, options: { abr: false, dashBufferSeconds: 2, ...(source.frameCode ? { frameCode: source.frameCode } : {}) } }, async ({ page, log }) => {
        const started = await until(page, 'playback to start', (s) => s.currentTime > 0.3 && !s.paused && s.videoHeight > 0);
        const sequence = everyPair([...started.heights].sort((x, y) => y - x), started.videoHeight);
        let last = started;
        for (const height of sequence) last = await switchTo(page, height);
        // And play goes on after the last switch.
        const end = await until(page, 'a second of play after the last switch', (s) => s.currentTime > last.currentTime + 1);

        if (kind === 'hls') expectHlsJsFragmentStarts(end, starts, sequence.length);
        expectNoSkip(end, log, SELF_ABORTED[kind]);
        expectNoStall(end);
        if (source.frameCode) expectFramesChecked(end, source.frameCode.fps);
      });
    });
  });
});
