/**
 * One cold player start in Chromium, for the start-up benches
 * (measure/cold-start.ts, hog-start.ts): the tests' harness page
 * (test/browser/harness.html, served by test/support/browser.ts) in a fresh
 * browser context (no HTTP cache), a player loading an origin's /vod
 * manifest, every request the page sends to the origin timed by the browser,
 * and the video element's frames, stalls and seeks.
 */
import type { Browser, Request } from 'playwright-core';
import { playerState, until, type PlayerState } from '../test/support/browser.js';

export type PlayerKind = 'hls' | 'dash' | 'shaka';

export interface PlayerCase {
  /** As reported: hls.js, dash.js, Shaka (DASH), Shaka (HLS). */
  name: string;
  kind: PlayerKind;
  manifest: 'master.m3u8' | 'manifest.mpd';
  /**
   * The player's shortest default timeout on a segment request, ms (read from the players in the page:
   * hls.js 1.7 fragLoadPolicy maxTimeToFirstByteMs; dash.js 5.2 streaming.fragmentRequestTimeout;
   * Shaka 5.2 retryParameters.stallTimeout, no data for that long). A request it abandons after that long timed out.
   */
  segmentTimeoutMs: number;
}

export const PLAYER_CASES: readonly PlayerCase[] = [
  { name: 'hls.js', kind: 'hls', manifest: 'master.m3u8', segmentTimeoutMs: 10_000 },
  { name: 'dash.js', kind: 'dash', manifest: 'manifest.mpd', segmentTimeoutMs: 20_000 },
  { name: 'Shaka (DASH)', kind: 'shaka', manifest: 'manifest.mpd', segmentTimeoutMs: 5_000 },
  { name: 'Shaka (HLS)', kind: 'shaka', manifest: 'master.m3u8', segmentTimeoutMs: 5_000 },
];

/** A request the page sent to the origin, as the browser timed it (epoch ms). */
export interface BrowserRequest {
  /** Path below the origin, e.g. /vod/x.mp4/video/<id>/init.mp4. */
  path: string;
  sent: number;
  /** First byte of the answer (undefined: failed before). */
  firstByte?: number;
  done: number;
  status?: number;
  /** net::ERR_ABORTED and the like: the player gave up on it (a timeout, a seek) or the connection failed. */
  failure?: string;
}

export interface Stall {
  /** Media time it happened at, and its wall-clock start and length (ms; until the next 'playing'). */
  at: number;
  wall: number;
  ms: number;
}

export interface PlayerRun {
  player: string;
  /** Epoch ms when harness.start (the player's load) was called: time zero of this run. */
  t0: number;
  /** First frame presented, ms after t0 (undefined if it never came). */
  firstFrameMs?: number;
  /** The first 'playing' event, ms after t0. */
  firstPlayingMs?: number;
  /** Stalls ('waiting' after the first 'playing') in the watched window. */
  stalls: Stall[];
  /** Media seconds played in the watched window. */
  watchedSeconds: number;
  /** The seek: when it was asked (ms after t0), and after how long (ms) a frame at the target was presented, 'seeked' and 'playing' came. */
  seek?: { target: number; atMs: number; resumeMs?: number; seekedMs?: number; playingMs?: number };
  requests: BrowserRequest[];
  errors: PlayerState['events'];
  /** Why the run stopped early (a fatal player error, a deadline), if it did. */
  failure?: string;
}

export interface RunOptions {
  /** Media seconds to watch after the first frame (stalls are counted there); 0: stop at the first frame. */
  watchSeconds: number;
  /** Seek there right after the first frame (instead of watching) and time the resume. */
  seekTo?: number;
  /** Hang guard for each phase, ms (not a pass/fail criterion: the figures are). */
  phaseTimeoutMs: number;
}

/** Stalls after the first 'playing': each 'waiting' and how long until the next 'playing' (or `end`). */
function stallsOf(events: PlayerState['mediaEvents'], end: number): Stall[] {
  const firstPlaying = events.findIndex((e) => e.type === 'playing');
  if (firstPlaying < 0) return [];
  const stalls: Stall[] = [];
  const after = events.slice(firstPlaying);
  for (const [i, e] of after.entries()) {
    // A seek's waiting is the seek's, not a stall.
    if (e.type !== 'waiting' || after.slice(0, i).some((p) => p.type === 'seeking')) continue;
    const resumed = after.slice(i + 1).find((n) => n.type === 'playing');
    stalls.push({ at: e.at, wall: e.wall, ms: (resumed?.wall ?? end) - e.wall });
  }
  return stalls;
}

function recordRequests(originUrl: string, requests: BrowserRequest[]) {
  const origin = new URL(originUrl).origin;
  const pathOf = (request: Request) => new URL(request.url()).pathname;
  const fromOrigin = (request: Request) => request.url().startsWith(origin) && request.method() !== 'OPTIONS';
  // The browser's own timing where it has one; a failed request has none (startTime -1): when we saw it leave.
  const seen = new Map<Request, number>();
  return {
    sent: (request: Request) => {
      if (fromOrigin(request)) seen.set(request, Date.now());
    },
    finished: async (request: Request) => {
      if (!fromOrigin(request)) return;
      const timing = request.timing();
      const response = await request.response();
      const start = timing.startTime > 0 ? timing.startTime : seen.get(request)!;
      requests.push({
        path: pathOf(request),
        sent: start,
        ...(timing.responseStart >= 0 ? { firstByte: start + timing.responseStart } : {}),
        done: timing.responseEnd >= 0 ? start + timing.responseEnd : Date.now(),
        ...(response ? { status: response.status() } : {}),
      });
    },
    failed: (request: Request) => {
      if (!fromOrigin(request)) return;
      requests.push({ path: pathOf(request), sent: seen.get(request) ?? Date.now(), done: Date.now(), failure: request.failure()?.errorText ?? 'failed' });
    },
  };
}

/**
 * One player start: load the harness page, start `player` on `manifestUrl`,
 * wait for the first frame, then watch `watchSeconds` of playback or seek.
 * A player's fatal error or a phase past its hang guard ends the run with
 * `failure` set (what happened up to then is kept).
 */
export async function playerRun(browser: Browser, pagesUrl: string, originUrl: string, manifestUrl: string, player: PlayerCase, options: RunOptions): Promise<PlayerRun> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests: BrowserRequest[] = [];
  const record = recordRequests(originUrl, requests);
  // Each finished request is read asynchronously (its response): all are in before the context closes,
  // and what finishes while it closes is not read (its page is gone).
  const reading: Promise<void>[] = [];
  let closing = false;
  page.on('request', record.sent);
  page.on('requestfinished', (r) => {
    if (!closing) reading.push(record.finished(r));
  });
  page.on('requestfailed', (r) => {
    if (!closing) record.failed(r);
  });
  const run: PlayerRun = { player: player.name, t0: 0, stalls: [], watchedSeconds: 0, requests, errors: { fatal: [], nonFatal: [], mediaErrors: [], jumps: [] } };
  try {
    await page.goto(pagesUrl);
    run.t0 = Date.now();
    // start() resolves once the manifest is parsed and play() was called; the first frame comes later.
    await page.evaluate(([kind, url]) => (window as any).harness.start(kind, url), [player.kind, manifestUrl] as const);
    let state = await until(page, 'the first frame', (s) => s.frames.first !== undefined, options.phaseTimeoutMs);
    const first = state.frames.first!;
    run.firstFrameMs = first.wall - run.t0;
    const playing = state.mediaEvents.find((e) => e.type === 'playing');
    if (playing) run.firstPlayingMs = playing.wall - run.t0;
    if (options.seekTo !== undefined) {
      const target = options.seekTo;
      const seekWall = Date.now();
      // A frame a little before the target counts: the frame on screen at the target started before it.
      await page.evaluate((t) => {
        (window as any).harness.markFrame('seek', t - 0.1);
        (window as any).harness.seek(t);
      }, target);
      state = await until(page, `resume after seeking to ${target} s`, (s) => s.frames.seek !== undefined && !s.paused && s.currentTime > target, options.phaseTimeoutMs);
      const after = (type: string) => state.mediaEvents.find((e) => e.type === type && e.wall >= seekWall)?.wall;
      const seeked = after('seeked');
      const resumed = after('playing');
      run.seek = {
        target,
        atMs: seekWall - run.t0,
        resumeMs: state.frames.seek!.wall - seekWall,
        ...(seeked ? { seekedMs: seeked - seekWall } : {}),
        ...(resumed ? { playingMs: resumed - seekWall } : {}),
      };
    } else if (options.watchSeconds > 0) {
      const end = Math.min(first.mediaTime + options.watchSeconds, state.duration - 0.5);
      state = await until(page, `${options.watchSeconds} s of playback`, (s) => s.currentTime >= end, options.phaseTimeoutMs + options.watchSeconds * 1000);
      run.watchedSeconds = state.currentTime - first.mediaTime;
    }
    run.stalls = stallsOf(state.mediaEvents, Date.now());
    run.errors = state.events;
  } catch (err) {
    // The named case: until() gave up (a fatal player error or a hang guard); the run is reported as failed.
    run.failure = (err as Error).message.slice(0, 400);
    const last = await playerState(page);
    run.errors = last.events;
    run.stalls = stallsOf(last.mediaEvents, Date.now());
  } finally {
    closing = true;
    await Promise.all(reading);
    await context.close();
  }
  run.requests.sort((a, b) => a.sent - b.sent);
  return run;
}
