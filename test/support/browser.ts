import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (installed by `scripts/setup.sh --test`), never a downloaded browser. */
const CHROMIUM = process.env.JITSEG_CHROMIUM ?? '/usr/bin/chromium';

/** Headless Chromium that plays media without a user gesture. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--autoplay-policy=no-user-gesture-required'],
  });
}

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const PLAYER_FILES: Record<string, string> = {
  '/players/hls.min.js': require.resolve('hls.js/dist/hls.min.js'),
  // dashjs's package exports hide its UMD bundle; its main entry is that bundle.
  '/players/dash.all.min.js': require.resolve('dashjs'),
  '/players/shaka-player.compiled.js': require.resolve('shaka-player/dist/shaka-player.compiled.js'),
  '/': path.join(here, '../browser/harness.html'),
  '/subtitles.html': path.join(here, '../browser/subtitles.html'),
};

/**
 * The harness page and the three players, served on loopback from another
 * origin than the media (so CORS is exercised on every request, as in production).
 */
export async function servePlayerPages(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const file = PLAYER_FILES[url.pathname];
    if (!file) return res.writeHead(404).end();
    const body = await readFile(file);
    const player = url.searchParams.get('player');
    const html = file.endsWith('.html');
    res.writeHead(200, { 'Content-Type': html ? 'text/html' : 'text/javascript' }).end(html && player ? onlyPlayer(body.toString(), player) : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://localhost:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The player bundle each harness kind uses (test/support/player-run.ts's PlayerKind). */
const PLAYER_SCRIPT: Record<string, string> = { hls: '/players/hls.min.js', dash: '/players/dash.all.min.js', shaka: '/players/shaka-player.compiled.js' };

/**
 * A harness page that loads one player's bundle, not all three (2.2 MB of script to fetch, parse and compile in a
 * fresh context for every page): the page script only touches the player it starts.
 */
function onlyPlayer(page: string, player: string): string {
  const keep = PLAYER_SCRIPT[player];
  if (!keep) throw new Error(`unknown player ${player}`);
  return page.replace(/<script src="(\/players\/[^"]+)"><\/script>\n?/g, (tag, src: string) => (src === keep ? tag : ''));
}

export interface PlayerState {
  currentTime: number;
  duration: number;
  paused: boolean;
  videoHeight: number;
  bufferedAhead: number;
  decodedFrames: number;
  droppedFrames: number;
  heights: number[];
  /** jumps: a player's own report that it moved the playhead (Shaka's gapjumped, stalldetected). */
  events: { fatal: string[]; nonFatal: string[]; mediaErrors: string[]; jumps: { what: string; at: number; beforePlay: boolean }[] };
  /** playing / waiting / seeking / seeked events of the video element, in order, with the media time they came at and when (epoch ms). */
  mediaEvents: { type: string; at: number; wall: number }[];
  /** hls.js: each main fragment it parsed, with the start and end it computed from the samples. */
  parsedFragments: { level: number; sn: number; startPTS: number; endPTS: number }[];
  /** Presented frames whose media time ran more than 0.25 s ahead of wall time, or went back (requestVideoFrameCallback). */
  frameSkips: { from: number; to: number; wall: number }[];
  presentedFrames: number;
  /** With a frame-coded source: frames read, frames whose code could not be read, and frames shown at the wrong media time. */
  frameCode: {
    checked: number;
    unreadable: { mediaTime: number; bit: number; luma: number }[];
    offset: number | undefined;
    mismatches: { mediaTime: number; code: number; shiftSeconds: number }[];
  };
  /** Frames presented, by label ('first': the first frame after start; others: see harness.markFrame), when (epoch ms) and at which media time. */
  frames: Record<string, { wall: number; mediaTime: number }>;
  /** Each SourceBuffer the player made (MIME type) and its buffered ranges on the element's timeline, seconds. */
  buffered: { mime: string; ranges: [number, number][] }[];
}

export async function playerState(page: Page): Promise<PlayerState> {
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

/** Polls the page until `predicate` holds; a player error or the (hang-guard) deadline fails. */
export async function until(page: Page, what: string, predicate: (s: PlayerState) => boolean, timeoutMs = 45_000): Promise<PlayerState> {
  const deadline = Date.now() + timeoutMs;
  let last = await playerState(page);
  while (!predicate(last)) {
    if (last.events.fatal.length > 0 || last.events.mediaErrors.length > 0) {
      throw new Error(`player failed while waiting for ${what}: ${JSON.stringify(last.events)}`);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last state ${JSON.stringify({ ...last, mediaEvents: last.mediaEvents.slice(-10), parsedFragments: undefined })}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await playerState(page);
  }
  return last;
}
