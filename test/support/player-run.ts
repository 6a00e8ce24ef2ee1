import { rm } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import { parseM3u8 } from './conformance.js';
import type { FRAME_CODE } from './corpus.js';
import { until, type PlayerState } from './browser.js';

/**
 * Shared by the browser tests that watch a real player for a skip: opening a
 * harness page on a player, warming an origin, switching renditions, and the
 * strict checks on what the player and the video element reported.
 */

export type PlayerKind = 'hls' | 'dash' | 'shaka';

export interface PlayerPage {
  page: Page;
  /** The page's console and uncaught errors, for failure messages and for dash.js's gap-jump warnings. */
  log: string[];
}

export interface PlayerOptions {
  /** false: the player stays on its first rendition until told to switch. */
  abr?: boolean;
  /** dash.js's forward buffer target (its defaults are 18–30 s). */
  dashBufferSeconds?: number;
  /** The source carries frame numbers (FRAME_CODE) at this frame rate: the page reads them from every presented frame. */
  frameCode?: typeof FRAME_CODE & { fps: number };
  /** Protected content: hls.js's ClearKey license server (DASH players read it from the MPD). */
  clearKey?: string;
  /** Protected content: Shaka Player's configuration for it (its HLS path). */
  shakaDrm?: Record<string, unknown>;
}

/** The four ways the browser tests play a content: each player, and the manifest it reads. */
export const EVERY_PLAYER: readonly { name: string; kind: PlayerKind; manifest: 'master.m3u8' | 'manifest.mpd' }[] = [
  { name: 'hls.js', kind: 'hls', manifest: 'master.m3u8' },
  { name: 'dash.js', kind: 'dash', manifest: 'manifest.mpd' },
  { name: 'Shaka Player (DASH)', kind: 'shaka', manifest: 'manifest.mpd' },
  { name: 'Shaka Player (HLS)', kind: 'shaka', manifest: 'master.m3u8' },
];

/**
 * What a browser test's set-up opened, closed in reverse (any of it may be missing after a failed set-up), and its
 * media folder and the origin's cache removed.
 */
export async function closePlayerRig(rig: {
  browser: Browser | undefined;
  pages: { close(): Promise<void> } | undefined;
  origin: { close(): Promise<void>; cacheDir: string } | undefined;
  media: string | undefined;
}): Promise<void> {
  await rig.browser?.close();
  await rig.pages?.close();
  await rig.origin?.close();
  await Promise.all([rig.media, rig.origin?.cacheDir].map((dir) => dir && rm(dir, { recursive: true, force: true })));
}

/** A harness page playing `url` in `kind`. */
export async function openPlayer(browser: Browser, pagesUrl: string, kind: PlayerKind, url: string, options: PlayerOptions = {}): Promise<PlayerPage> {
  const page = await browser.newPage();
  const log: string[] = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('response', (r) => {
    if (r.status() >= 400) log.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on('requestfailed', (r) => log.push(`request failed (${r.failure()?.errorText}): ${r.url()}`));
  // Only the player it starts: the page loads faster, and nothing else changes.
  await page.goto(`${pagesUrl}?player=${kind}`);
  await page.evaluate(([k, u, o]) => (window as any).harness.start(k, u, o), [kind, url, options] as const);
  return { page, log };
}

/** Runs `body` on a player page, closes it, and adds the page's last console lines to a failure. */
export async function withPlayer<T>(
  browser: Browser,
  pagesUrl: string,
  run: { label: string; kind: PlayerKind; url: string; options?: PlayerOptions },
  body: (p: PlayerPage) => Promise<T>,
): Promise<T> {
  const player = await openPlayer(browser, pagesUrl, run.kind, run.url, run.options);
  try {
    return await body(player);
  } catch (err) {
    throw new Error(`${run.label}: ${(err as Error).message}\nbrowser console:\n${player.log.slice(-30).join('\n')}`);
  } finally {
    await player.page.close();
  }
}

/** Requests every file of every HLS rendition, a few at a time, so play is warm: a stall can only be the player's or the stream's. */
export async function warm(masterUrl: string): Promise<void> {
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

/** a→b→c→a→c→b→a: every ordered pair of the three renditions once. */
export function everyPair(heights: number[], start: number): number[] {
  const [b, c] = heights.filter((h) => h !== start);
  if (heights.length !== 3 || b === undefined || c === undefined) throw new Error(`expected three renditions, got ${heights.join(', ')}`);
  return [b, c, start, c, b, start];
}

/** Asks for a switch that keeps what is playing and waits until the new rendition is on screen. */
export async function switchTo(page: Page, height: number): Promise<PlayerState> {
  await page.evaluate((h) => (window as any).harness.switchNext(h), height);
  return until(page, `${height}p on screen`, (s) => s.videoHeight === height);
}

/**
 * dash.js reports its gap jumps only as warnings: GapController's "Jumping gap …", "Jumping to end of stream …",
 * "Jumping …s to break stall", and StreamProcessor's "Adjusting playback time … because of gap in the manifest".
 */
const DASH_JUMP = /Jumping|because of gap/;

/**
 * Shaka Player moves every negative SourceBuffer timestampOffset 1 ms later
 * (MediaSourceEngine.setTimestampOffset_, "work around for
 * https://github.com/shaka-project/shaka-player/issues/1281 … rounding errors
 * in Edge"), so a stream whose media times are later than its presentation
 * times, as every jitseg stream's are (the timeline starts at 10 s), is
 * buffered from 0.001 s, and Shaka jumps that millisecond at the start
 * (gapjumped at 0.001, with its seeking events at 0 and 0.001). That jump is
 * Shaka's own; any other is not. Whether the element's first `playing` comes
 * before or after it is a race (next to a CPU hog it came first), so what is
 * told apart is where the playhead was, not when: nothing before 0.001 s is
 * media anyone could miss.
 */
const START_MILLISECOND = 0.001 + 1e-6;
const SHAKA_OWN_START_JUMP = (jump: { what: string; at: number }) => jump.what === 'shaka gapjumped' && Math.abs(jump.at - 0.001) < 1e-6;

/**
 * Nothing moved the playhead but the clock: no seeking the test did not ask
 * for, no gap jump a player reported (Shaka's gapjumped/stalldetected,
 * dash.js's warnings), no presented frame whose media time ran ahead of wall
 * time or went back, no player error, fatal or not, except `tolerated`.
 */
export function expectNoSkip(state: PlayerState, log: string[], tolerated: string[] = []): void {
  const sincePlaying = state.mediaEvents.slice(state.mediaEvents.findIndex((e) => e.type === 'playing'));
  // All at once, so a failure shows every kind of skip the run had.
  const problems = {
    fatal: state.events.fatal,
    mediaErrors: state.events.mediaErrors,
    nonFatal: state.events.nonFatal.filter((e) => !tolerated.includes(e)),
    gapJumps: state.events.jumps.filter((jump) => !SHAKA_OWN_START_JUMP(jump)),
    dashGapJumps: log.filter((line) => DASH_JUMP.test(line)),
    unaskedSeeks: sincePlaying.filter((e) => e.type === 'seeking' && !(e.at <= START_MILLISECOND && state.events.jumps.some(SHAKA_OWN_START_JUMP))),
    frameSkips: state.frameSkips,
    wrongFrames: state.frameCode.mismatches.slice(0, 10),
    unreadableFrameCodes: state.frameCode.unreadable.slice(0, 10),
  };
  const found = Object.fromEntries(Object.entries(problems).filter(([, list]) => list.length > 0));
  expect(found, `skips: ${JSON.stringify(found)}`).toEqual({});
}

/**
 * A frame-coded source really was read. Not every presented frame: under load
 * requestVideoFrameCallback may coalesce frames; two seconds' worth at least.
 */
export function expectFramesChecked(state: PlayerState, fps: number): void {
  expect(state.frameCode.checked, `frame codes read (of ${state.presentedFrames} frames presented)`).toBeGreaterThan(2 * fps);
}

/** No `waiting` after play began: for warm play, where every segment is ready before it is asked for. */
export function expectNoStall(state: PlayerState): void {
  const sincePlaying = state.mediaEvents.slice(state.mediaEvents.findIndex((e) => e.type === 'playing'));
  expect(sincePlaying.filter((e) => e.type === 'waiting'), 'stalls (waiting) during play').toEqual([]);
}
