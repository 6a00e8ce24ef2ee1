/**
 * Where the seconds of a player start go: the browser's requests (measured
 * by the browser) joined with the origin's encode-queue tasks (origin-trace.ts)
 * on one time line from the player's load() call, as text lines for the
 * report, plus a few derived figures (which rendition the player started
 * on, how long its first requests waited for a worker, what prefetch ran).
 */
import type { OriginTrace, TracedTask } from './origin-trace.js';
import type { BrowserRequest, PlayerRun } from './player-run.js';

/** `video/<rendition>/<file>` of a request path or a task key ('init.mp4' is made by segment 1's encode). */
export function mediaKeyOf(pathOrKey: string): string | undefined {
  const m = /(video|audio)\/([^/]+)\/([^/?]+)$/.exec(pathOrKey);
  if (!m) return undefined;
  const file = m[3] === 'init.mp4' ? 'segment_1.m4s' : m[3]!;
  return `${m[1]}/${m[2]}/${file}`;
}

/** Rendition ids end in a hash of their settings: cut it for reading. */
const short = (pathOrKey: string) =>
  pathOrKey
    .replace(/^.*\/(video|audio)\//, '$1/')
    .replace(/^\/(vod|api\/v1\/content)\/[^/]+\//, '')
    .replace(/-[0-9a-f]{10}\//, '/');

const s = (ms: number) => (ms / 1000).toFixed(2);

export interface StartBreakdown {
  /** The rendition of the first video segment the player asked for. */
  startRendition?: string;
  /** Requests sent before the first frame. */
  requestsBeforeFirstFrame: number;
  /** The manifest(s) and playlists: from t0 until the last playlist answered before the first media request, ms. */
  manifestsMs?: number;
  /** Longest wait for a worker among player-priority tasks that started before the first frame, ms. */
  maxQueueWaitMs: number;
  /** Prefetch tasks running or started before the first frame. */
  prefetchBeforeFirstFrame: number;
  /** Encodes (tasks) that ended before the first frame, and their total worker time, ms. */
  encodesBeforeFirstFrame: number;
  encodeMsBeforeFirstFrame: number;
}

/** A segment or init segment (not a manifest or playlist). */
const isMedia = (r: BrowserRequest) => /\/(video|audio)\/[^/]+\/[^/]+\.(m4s|mp4)$/.test(r.path);

export function breakdown(run: PlayerRun, trace: OriginTrace): StartBreakdown {
  const firstFrame = run.t0 + (run.firstFrameMs ?? Infinity);
  const before = run.requests.filter((r) => r.sent < firstFrame);
  const media = before.filter(isMedia);
  const firstVideo = media.find((r) => r.path.includes('/video/'));
  const lastManifest = before.filter((r) => !isMedia(r) && r.sent < (media[0]?.sent ?? Infinity));
  const tasks = trace.tasks.filter((t) => t.queued < firstFrame);
  const ended = tasks.filter((t) => t.started !== undefined && t.ended < firstFrame);
  return {
    ...(firstVideo ? { startRendition: /video\/([^/]+)\//.exec(short(firstVideo.path))?.[1] } : {}),
    requestsBeforeFirstFrame: before.length,
    ...(lastManifest.length > 0 ? { manifestsMs: Math.max(...lastManifest.map((r) => r.done)) - run.t0 } : {}),
    maxQueueWaitMs: Math.max(0, ...tasks.filter((t) => t.queuedAs === 'request' && t.started !== undefined).map((t) => t.started! - t.queued)),
    prefetchBeforeFirstFrame: tasks.filter((t) => t.startedAs === 'prefetch' && t.started !== undefined).length,
    encodesBeforeFirstFrame: ended.length,
    encodeMsBeforeFirstFrame: ended.reduce((sum, t) => sum + (t.ended - t.started!), 0),
  };
}

function taskLine(t0: number, task: TracedTask, raisedAt: number | undefined): string {
  const waited = task.started !== undefined ? `waited ${s(task.started - task.queued)} s for a worker, ran ${s(task.ended - task.started)} s as ${task.startedAs}` : 'never started';
  const raised = raisedAt !== undefined ? ` (a player asked at ${s(raisedAt - t0)})` : '';
  const end =
    task.outcome === 'made' ? `done at ${s(task.ended - t0)}` : task.outcome === 'running' ? 'still running when the origin stopped' : `${task.error?.split(':')[0] ?? 'failed'} at ${s(task.ended - t0)}`;
  return `${s(task.queued - t0).padStart(6)}  queue  ${short(task.key).padEnd(30)} by ${task.queuedAs}${raised}: ${waited}, ${end}`;
}

const droppedUnstarted = (t: TracedTask) => t.queuedAs === 'prefetch' && t.started === undefined && t.outcome === 'failed';

/** When a player first asked for a task's key while prefetch had it queued or running. */
const raisedDuring = (trace: OriginTrace, task: TracedTask) =>
  task.queuedAs === 'prefetch' ? trace.raised.find((r) => r.key === task.key && r.priority >= 100 && r.t >= task.queued && r.t <= task.ended)?.t : undefined;

function requestLine(t0: number, r: BrowserRequest): string {
  const answer = r.failure ? `failed: ${r.failure} at ${s(r.done - t0)}` : `${r.status}, first byte ${s((r.firstByte ?? r.done) - t0)} (${s((r.firstByte ?? r.done) - r.sent)} s)`;
  return `${s(r.sent - t0).padStart(6)}  GET    ${short(r.path).padEnd(30)} ${answer}`;
}

/**
 * The start of a run as lines, in time order: each request the player sent
 * (until `untilMs` after t0), each encode task queued meanwhile (with its
 * wait for a worker, its encode time, and when a player asked for it), the
 * first frame, stalls, the seek.
 */
export function timeline(run: PlayerRun, trace: OriginTrace, fromMs: number, untilMs: number): string[] {
  const { t0 } = run;
  const end = t0 + untilMs;
  const from = t0 + fromMs;
  const shown = run.requests.filter((r) => r.sent >= from && r.sent <= end);
  // A player may abandon and resend the same request many times (hls.js does under load): one line per path.
  const failedByPath = new Map<string, BrowserRequest[]>();
  for (const r of shown) if (r.failure) failedByPath.set(r.path, [...(failedByPath.get(r.path) ?? []), r]);
  const lines: { t: number; text: string }[] = [
    ...shown.filter((r) => !r.failure).map((r) => ({ t: r.sent, text: requestLine(t0, r) })),
    ...[...failedByPath.values()].map((list) => ({
      t: list[0]!.sent,
      text: list.length === 1 ? requestLine(t0, list[0]!) : `${s(list[0]!.sent - t0).padStart(6)}  GET    ${short(list[0]!.path).padEnd(30)} ${list[0]!.failure} ×${list.length}, sent ${s(list[0]!.sent - t0)}–${s(list.at(-1)!.sent - t0)}`,
    })),
    // Tasks queued in the window, and those queued before it still waiting or running at its start (they hold workers).
    ...trace.tasks
      .filter((t) => t.queued <= end && (t.queued >= from || t.ended > from) && !droppedUnstarted(t))
      .map((t) => ({ t: Math.max(t.queued, from), text: taskLine(t0, t, raisedDuring(trace, t)) })),
    ...run.stalls.filter((st) => st.wall <= end).map((st) => ({ t: st.wall, text: `${s(st.wall - t0).padStart(6)}  STALL  at media ${st.at.toFixed(2)} s for ${s(st.ms)} s` })),
  ];
  // Prefetch queued and dropped before it started (a player's seek, or a resent request, drops it): one line.
  const dropped = trace.tasks.filter((t) => t.queued >= from && t.queued <= end && droppedUnstarted(t));
  if (dropped.length > 0) {
    const keys = [...new Set(dropped.map((t) => short(t.key).replace('segment_', '').replace('.m4s', '')))];
    const first = dropped[0]!.queued;
    const last = Math.max(...dropped.map((t) => t.queued));
    lines.push({ t: first, text: `${s(first - t0).padStart(6)}  queue  ${dropped.length} prefetch tasks queued ${s(first - t0)}–${s(last - t0)} and dropped before they started: ${keys.join(', ')}` });
  }
  if (run.firstFrameMs !== undefined) lines.push({ t: t0 + run.firstFrameMs, text: `${s(run.firstFrameMs).padStart(6)}  FIRST FRAME` });
  const { seek } = run;
  if (seek) {
    lines.push({ t: t0 + seek.atMs, text: `${s(seek.atMs).padStart(6)}  SEEK   to ${seek.target} s` });
    if (seek.resumeMs !== undefined) lines.push({ t: t0 + seek.atMs + seek.resumeMs, text: `${s(seek.atMs + seek.resumeMs).padStart(6)}  FRAME  at the seek target (resumed)` });
  }
  for (const f of trace.failed) if (f.t <= end) lines.push({ t: f.t, text: `${s(f.t - t0).padStart(6)}  ${f.status}    ${short(f.path)}: ${f.reason}` });
  return lines
    .filter((l) => l.t >= from && l.t <= end)
    .sort((a, b) => a.t - b.t)
    .map((l) => l.text);
}
