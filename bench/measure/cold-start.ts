/**
 * Cold start of real players: hls.js, dash.js and Shaka (DASH and HLS) in
 * Chromium, each alone on an origin and cache that never saw the content:
 * time to the first frame, stalls in the first 20 s, then (on another fresh
 * origin) time to resume after a seek into a part never made. Every request
 * the player sent and every encode the origin queued meanwhile are kept, so
 * the report can show where the seconds went. Next to it, the bare ffmpeg
 * encode of the same spans (cold-segment.ts's command) for ratios.
 */
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { defaultStreamingConfig } from '../../src/config/config.js';
import { makePlan, type Plan } from '../../src/plan/plan.js';
import { probeSource } from '../../src/probe/index.js';
import { launchChromium, servePlayerPages } from '../../test/support/browser.js';
import { log, removeTempDir, startOrigin, tempDir, vodPath, type SourceFile } from '../harness.js';
import { median } from '../lib.js';
import { readTrace, type OriginTrace } from '../origin-trace.js';
import { PLAYER_CASES, playerRun, type PlayerCase, type PlayerRun, type RunOptions } from '../player-run.js';
import { BENCH_DIR } from '../sources.js';
import { breakdown, mediaKeyOf, timeline, type StartBreakdown } from '../start-timeline.js';
import { bareFfmpeg } from './cold-segment.js';

export const COLD_START_RUNS = 3;
/** Media seconds watched for stalls after the first frame. */
export const WATCH_SECONDS = 20;
/**
 * Where the cold seek goes (media seconds): inside the 30 s source's segment
 * 7 (20.02–24.48 s), not at 20 s, which ends segment 6 by 0.02 s and would
 * have the player fetch two segments to resume.
 */
export const SEEK_TO = 21;
/** The issue's goals. */
export const COLD_START_GOALS = { firstFrameMs: 1000, seekResumeMs: 1500 };
/** Hang guard per phase (a player that has not started by then is reported as failed). */
const PHASE_TIMEOUT_MS = 60_000;

/** Where the seek target's segment was when the seek came: made already, encoding (prefetch), or not started. */
type TargetState = 'made' | 'encoding' | 'queued' | 'cold';

export interface ColdStartRun {
  start: PlayerRun & { breakdown: StartBreakdown; trace: OriginTrace };
  seek: PlayerRun & { targetState?: TargetState; trace: OriginTrace };
}

export interface ColdStartPlayer {
  player: string;
  runs: ColdStartRun[];
  failures: string[];
  medianFirstFrameMs?: number;
  medianFirstPlayingMs?: number;
  /** Per run: stalls in the first WATCH_SECONDS and their total length. */
  stalls: { count: number; totalMs: number }[];
  medianSeekResumeMs?: number;
  /** Median of per-run ratios: first frame / bare ffmpeg of segment 1 of the rendition the run started on; seek resume / bare ffmpeg of the seek target's segment. */
  firstFrameRatio?: number;
  seekRatio?: number;
  startRenditions: string[];
  /** The median run's start and seek, as time lines (start-timeline.ts). */
  startTimeline: string[];
  seekTimeline: string[];
}

export interface ColdStartResults {
  source: string;
  runs: number;
  /** Bare ffmpeg (median of 3) per video rendition: segment 1, and the segment holding SEEK_TO. */
  bare: Record<string, { firstSegmentMs: number; seekSegmentMs: number; seekSegment: number }>;
  players: ColdStartPlayer[];
}

/** 1-based number of the video segment holding `seconds`. */
function segmentAt(plan: Plan, seconds: number): number {
  const at = seconds * plan.timescale + plan.presentationTimeOffset;
  const i = plan.videoSegments.findIndex((seg) => seg.start <= at && at < seg.start + seg.duration);
  return (i < 0 ? plan.videoSegments.length - 1 : i) + 1;
}

async function bareBaseline(sourcePath: string, plan: Plan): Promise<ColdStartResults['bare']> {
  const workDir = await tempDir('jitseg-bench-bare-');
  const seekSegment = segmentAt(plan, SEEK_TO);
  const bare: ColdStartResults['bare'] = {};
  try {
    for (const rendition of plan.renditions) {
      const times = async (n: number) => median([await bareFfmpeg(sourcePath, plan, rendition.name, n, workDir), await bareFfmpeg(sourcePath, plan, rendition.name, n, workDir), await bareFfmpeg(sourcePath, plan, rendition.name, n, workDir)]);
      bare[rendition.name] = { firstSegmentMs: await times(1), seekSegmentMs: await times(seekSegment), seekSegment };
      log(`  bare ffmpeg ${rendition.name}: segment 1 ${Math.round(bare[rendition.name]!.firstSegmentMs)} ms, segment ${seekSegment} ${Math.round(bare[rendition.name]!.seekSegmentMs)} ms`);
    }
  } finally {
    await removeTempDir(workDir);
  }
  return bare;
}

/** One player run on a fresh origin (production defaults: prefetch on) and cache, traced. */
async function tracedRun(browser: Browser, pagesUrl: string, source: SourceFile, player: PlayerCase, options: RunOptions): Promise<{ run: PlayerRun; trace: OriginTrace }> {
  const cacheDir = await tempDir('jitseg-bench-cache-');
  const traceDir = await tempDir('jitseg-bench-trace-');
  const traceFile = path.join(traceDir, 'trace.jsonl');
  try {
    const origin = await startOrigin(cacheDir, { streaming: defaultStreamingConfig(), trace: traceFile });
    let run: PlayerRun;
    try {
      run = await playerRun(browser, pagesUrl, origin.url, `${origin.url}${vodPath(source.name).replace('master.m3u8', player.manifest)}`, player, options);
    } finally {
      await origin.stop();
    }
    return { run, trace: readTrace(traceFile) };
  } finally {
    await removeTempDir(cacheDir);
    await removeTempDir(traceDir);
  }
}

/** The first video segment the player asked for after the seek: made, being made, queued or not started when the seek came. */
function targetStateOf(run: PlayerRun, trace: OriginTrace): TargetState | undefined {
  if (!run.seek) return undefined;
  const seekWall = run.t0 + run.seek.atMs;
  const request = run.requests.find((r) => r.sent >= seekWall && r.path.includes('/video/') && r.path.endsWith('.m4s'));
  const key = request && mediaKeyOf(request.path);
  if (!key) return undefined;
  const task = trace.tasks.find((t) => mediaKeyOf(t.key) === key);
  if (!task || task.queued >= seekWall) return 'cold';
  if (task.started === undefined || task.started >= seekWall) return 'queued';
  return task.ended < seekWall ? 'made' : 'encoding';
}

/** The run whose value of `pick` is the median (lower middle), for its time line. */
function medianRun<T>(runs: T[], pick: (r: T) => number | undefined): T | undefined {
  const valued = runs.filter((r) => pick(r) !== undefined).sort((a, b) => pick(a)! - pick(b)!);
  return valued[(valued.length - 1) >> 1];
}

const medianOf = (values: (number | undefined)[]) => {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length > 0 ? median(present) : undefined;
};

/** The rendition of the first video segment requested at or after `fromMs` (after t0). */
function renditionAfter(run: PlayerRun, fromMs: number): string | undefined {
  const request = run.requests.find((r) => r.sent >= run.t0 + fromMs && r.path.includes('/video/') && r.path.endsWith('.m4s'));
  return request && /\/video\/(.+)-[0-9a-f]{10}\//.exec(request.path)?.[1];
}

function summarize(player: string, runs: ColdStartRun[], bare: ColdStartResults['bare']): ColdStartPlayer {
  const failures = runs.flatMap((r, i) => [r.start.failure, r.seek.failure].filter(Boolean).map((f) => `run ${i + 1}: ${f}`));
  const start = medianRun(runs, (r) => r.start.firstFrameMs)?.start;
  const seek = medianRun(runs, (r) => r.seek.seek?.resumeMs)?.seek;
  return {
    player,
    runs,
    failures,
    medianFirstFrameMs: medianOf(runs.map((r) => r.start.firstFrameMs)),
    medianFirstPlayingMs: medianOf(runs.map((r) => r.start.firstPlayingMs)),
    stalls: runs.map((r) => ({ count: r.start.stalls.length, totalMs: r.start.stalls.reduce((sum, st) => sum + st.ms, 0) })),
    medianSeekResumeMs: medianOf(runs.map((r) => r.seek.seek?.resumeMs)),
    firstFrameRatio: medianOf(
      runs.map((r) => {
        const base = bare[renditionAfter(r.start, 0) ?? '']?.firstSegmentMs;
        return r.start.firstFrameMs !== undefined && base ? r.start.firstFrameMs / base : undefined;
      }),
    ),
    seekRatio: medianOf(
      runs.map((r) => {
        const seek = r.seek.seek;
        const base = seek && bare[renditionAfter(r.seek, seek.atMs) ?? '']?.seekSegmentMs;
        return seek?.resumeMs !== undefined && base ? seek.resumeMs / base : undefined;
      }),
    ),
    startRenditions: runs.map((r) => r.start.breakdown.startRendition ?? '?'),
    startTimeline: start ? timeline(start, start.trace, 0, (start.firstFrameMs ?? PHASE_TIMEOUT_MS) + 2_000) : [],
    seekTimeline: seek?.seek ? timeline(seek, seek.trace, seek.seek.atMs, seek.seek.atMs + (seek.seek.resumeMs ?? PHASE_TIMEOUT_MS) + 1_000) : [],
  };
}

export async function measureColdStart(source: SourceFile, runs = COLD_START_RUNS, players: readonly PlayerCase[] = PLAYER_CASES): Promise<ColdStartResults> {
  const sourcePath = path.join(BENCH_DIR, source.name);
  const plan = makePlan(await probeSource(sourcePath), defaultStreamingConfig());
  const bare = await bareBaseline(sourcePath, plan);
  const pages = await servePlayerPages();
  const browser = await launchChromium();
  const byPlayer = new Map<string, ColdStartRun[]>(players.map((p) => [p.name, []]));
  try {
    for (let i = 0; i < runs; i++) {
      for (const player of players) {
        const started = await tracedRun(browser, pages.url, source, player, { watchSeconds: WATCH_SECONDS, phaseTimeoutMs: PHASE_TIMEOUT_MS });
        const seeked = await tracedRun(browser, pages.url, source, player, { watchSeconds: 0, seekTo: SEEK_TO, phaseTimeoutMs: PHASE_TIMEOUT_MS });
        const run: ColdStartRun = {
          start: { ...started.run, breakdown: breakdown(started.run, started.trace), trace: started.trace },
          seek: { ...seeked.run, ...(targetStateOf(seeked.run, seeked.trace) ? { targetState: targetStateOf(seeked.run, seeked.trace)! } : {}), trace: seeked.trace },
        };
        byPlayer.get(player.name)!.push(run);
        const ms = (v?: number) => (v === undefined ? '–' : `${Math.round(v)} ms`);
        log(
          `  ${player.name} run ${i + 1}: first frame ${ms(run.start.firstFrameMs)} on ${run.start.breakdown.startRendition ?? '?'}, ` +
            `${run.start.stalls.length} stalls (${ms(run.start.stalls.reduce((sum, st) => sum + st.ms, 0))}); seek resume ${ms(run.seek.seek?.resumeMs)} (target ${run.seek.targetState ?? '?'})` +
            `${run.start.failure || run.seek.failure ? `; FAILED: ${run.start.failure ?? run.seek.failure}` : ''}`,
        );
      }
    }
  } finally {
    await browser.close();
    await pages.close();
  }
  return { source: source.label, runs, bare, players: players.map((p) => summarize(p.name, byPlayer.get(p.name)!, bare)) };
}

export function reportColdStart(r: ColdStartResults): string[] {
  const sec = (ms?: number) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(2)} s`);
  const x = (v?: number) => (v === undefined ? '' : ` (×${v.toFixed(1)})`);
  const goals = COLD_START_GOALS;
  const bareLine = Object.entries(r.bare)
    .map(([name, b]) => `${name} ${sec(b.firstSegmentMs)} (segment 1), ${sec(b.seekSegmentMs)} (segment ${b.seekSegment})`)
    .join('; ');
  const lines = [
    `### Cold start, real players in Chromium (${r.source}, median of ${r.runs} run${r.runs === 1 ? '' : 's'}; every run a fresh origin + cache)`,
    '',
    `Time from the player's load() to the first frame presented; stalls ('waiting' after the first 'playing') in the first ${WATCH_SECONDS} s;`,
    `on another fresh origin, a seek to ${SEEK_TO} s right after the first frame and the time to a frame at the target. Origin: production defaults (prefetch on).`,
    `In brackets: × the bare ffmpeg encode of the span (${bareLine}).`,
    `Goals: first frame ≤ ${sec(goals.firstFrameMs)}, no stall in the first ${WATCH_SECONDS} s, seek resume ≤ ${sec(goals.seekResumeMs)}.`,
    '',
    '| Player | First frame | First playing | Started on | Stalls per run (count, total) | Seek resume | Seek target was | Goals |',
    '|---|---:|---:|---|---|---:|---|---|',
  ];
  for (const p of r.players) {
    const met =
      p.failures.length === 0 &&
      (p.medianFirstFrameMs ?? Infinity) <= goals.firstFrameMs &&
      p.stalls.every((st) => st.count === 0) &&
      (p.medianSeekResumeMs ?? Infinity) <= goals.seekResumeMs;
    lines.push(
      `| ${p.player} | ${sec(p.medianFirstFrameMs)}${x(p.firstFrameRatio)} | ${sec(p.medianFirstPlayingMs)} | ${p.startRenditions.join(', ')} | ` +
        `${p.stalls.map((st) => `${st.count}, ${sec(st.totalMs)}`).join(' / ')} | ${sec(p.medianSeekResumeMs)}${x(p.seekRatio)} | ` +
        `${p.runs.map((run) => run.seek.targetState ?? '?').join(', ')} | ${met ? 'met' : '**not met**'} |`,
    );
  }
  for (const p of r.players) {
    if (p.failures.length > 0) lines.push('', `${p.player} failures: ${p.failures.join('; ')}`);
    lines.push('', `#### ${p.player}: where the seconds go (the median run; seconds after load())`, '', '```', ...p.startTimeline, '', ...p.seekTimeline, '```');
  }
  return lines;
}
