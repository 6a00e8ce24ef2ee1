/**
 * What an origin under the start-up benches did, on a time line: written by
 * the origin's child process (serve.ts … --trace <file>), read back by the
 * bench after the origin stopped. Read-only: it listens to the event bus,
 * reads the access log (debug level: one line per served request) and wraps
 * the encode queue's `run` to note when each task was queued, when it got a
 * worker and when it ended. Nothing in src/ changes for it.
 *
 * Every record is a JSON line with `t`, epoch milliseconds (the browser's
 * clock is the same machine's, so the two time lines line up).
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { pino, type Logger } from 'pino';
import { reasonOf, type EncodeQueue, type TaskReason } from '../src/coordinate/encode-queue.js';
import type { EventBus } from '../src/observe/events.js';

/** A request as the origin's access log saw it (served ones only: 4xx at warn, 2xx/3xx at debug; 5xx in `failed`). */
export interface TracedRequest {
  path: string;
  status: number;
  /** When the handler started and answered (epoch ms). */
  arrived: number;
  answered: number;
}

/** One encode-queue task: a segment made (an init request waits for its rendition's segment 1). */
export interface TracedTask {
  /** `<hash>/<kind>/<rendition>/<file>`. */
  key: string;
  queued: number;
  /** Who queued it: a player's request, or prefetch. */
  queuedAs: TaskReason;
  /** When it got a worker (undefined: never started, e.g. dropped or refused). */
  started?: number;
  ended: number;
  /** What it started as (a prefetch raised before it started starts as a request). */
  startedAs?: TaskReason;
  /** 'running': started, and still running when the origin stopped (`ended` is then the trace's last record). */
  outcome: 'made' | 'failed' | 'running';
  error?: string;
}

export interface TracedEvent {
  t: number;
  type: string;
  kind?: string;
  rendition?: string;
  segment?: number;
  encodeMs?: number;
}

export interface OriginTrace {
  requests: TracedRequest[];
  /** 5xx answers, from the origin's 'request failed' log line (path, status, reason). */
  failed: { t: number; path: string; status: number; reason: string }[];
  tasks: TracedTask[];
  events: TracedEvent[];
  /** Queue depth (waiting) and encodes running, each time either changed (sampled every 20 ms). */
  queue: { t: number; waiting: number; running: number }[];
  /** Keys raised (a player asked for them), with the priority (100: a player's request). */
  raised: { t: number; key: string; priority: number }[];
}

// ---------------------------------------------------------------------------
// Child side

/** A trace file the origin's child process appends to (synchronously: the process may exit right after close). */
export class TraceWriter {
  private readonly fd: number;
  private sampler: NodeJS.Timeout | undefined;

  constructor(file: string) {
    this.fd = openSync(file, 'a');
  }

  write(record: Record<string, unknown>): void {
    writeSync(this.fd, `${JSON.stringify({ t: Date.now(), ...record })}\n`);
  }

  /** A pino logger at debug level whose lines go into the trace (access log and 'request failed' lines are read back). */
  logger(): Logger {
    return pino({ level: 'debug', base: null }, { write: (line: string) => this.write({ k: 'log', ...(JSON.parse(line) as object) }) });
  }

  /** Records every event of the bus. */
  watchEvents(bus: EventBus): void {
    bus.subscribe((event) => {
      const { type } = event;
      const e = event as unknown as Record<string, unknown>;
      this.write({ k: 'event', type, kind: e.kind, rendition: e.rendition, segment: e.segment, encodeMs: e.encodeMs });
    });
  }

  /** Wraps the queue's `run` (the only way work gets a worker) to note queue, start and end of each task; samples its depth. */
  watchQueue(queue: EncodeQueue): void {
    let taskIds = 0;
    const run = queue.run.bind(queue);
    queue.run = <T>(key: string, work: (reason: TaskReason) => Promise<T>, options: Parameters<EncodeQueue['run']>[2]): Promise<T> => {
      const id = ++taskIds;
      const queued = Date.now();
      const queuedAs = reasonOf(options.priority);
      let started: number | undefined;
      let startedAs: TaskReason | undefined;
      const task = run(
        key,
        (reason) => {
          started = Date.now();
          startedAs = reason;
          // Also when it starts: a task still running when the origin stops has no end record.
          this.write({ k: 'task-start', id, key, queued, queuedAs, started, startedAs });
          return work(reason);
        },
        options,
      );
      task.then(
        () => this.write({ k: 'task', id, key, queued, queuedAs, started, startedAs, ended: Date.now(), outcome: 'made' }),
        (err: Error) => this.write({ k: 'task', id, key, queued, queuedAs, started, startedAs, ended: Date.now(), outcome: 'failed', error: err.message }),
      );
      return task;
    };
    // A player asking for what prefetch queued (or runs) raises it: when, and to what.
    const raise = queue.raise.bind(queue);
    queue.raise = (key: string, priority: number) => {
      this.write({ k: 'raise', key, priority });
      raise(key, priority);
    };
    let last = '';
    this.sampler = setInterval(() => {
      const now = `${queue.depth}/${queue.running}`;
      if (now === last) return;
      last = now;
      this.write({ k: 'queue', waiting: queue.depth, running: queue.running });
    }, 20);
    this.sampler.unref();
  }

  close(): void {
    clearInterval(this.sampler);
    closeSync(this.fd);
  }
}

// ---------------------------------------------------------------------------
// Bench side

/** Reads a trace file written by TraceWriter. */
export function readTrace(file: string): OriginTrace {
  const trace: OriginTrace = { requests: [], failed: [], tasks: [], events: [], queue: [], raised: [] };
  const unfinished = new Map<number, Record<string, any>>();
  let last = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as Record<string, any>;
    last = Math.max(last, r.t);
    if (r.k === 'task-start') unfinished.set(r.id, r);
    if (r.k === 'task') unfinished.delete(r.id);
    if (r.k === 'log' && r.msg === 'request') trace.requests.push({ path: r.path, status: r.status, arrived: r.t - r.ms, answered: r.t });
    else if (r.k === 'log' && r.msg === 'request failed') trace.failed.push({ t: r.t, path: r.path, status: r.status, reason: r.err });
    else if (r.k === 'task') trace.tasks.push({ key: r.key, queued: r.queued, queuedAs: r.queuedAs, started: r.started ?? undefined, ended: r.ended, startedAs: r.startedAs, outcome: r.outcome, error: r.error });
    else if (r.k === 'event') trace.events.push({ t: r.t, type: r.type, kind: r.kind, rendition: r.rendition, segment: r.segment, encodeMs: r.encodeMs });
    else if (r.k === 'raise') trace.raised.push({ t: r.t, key: r.key, priority: r.priority });
    else if (r.k === 'queue') trace.queue.push({ t: r.t, waiting: r.waiting, running: r.running });
  }
  for (const r of unfinished.values()) trace.tasks.push({ key: r.key, queued: r.queued, queuedAs: r.queuedAs, started: r.started, ended: last, startedAs: r.startedAs, outcome: 'running' });
  return trace;
}
