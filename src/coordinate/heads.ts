import { PreemptedError } from '../process/runner.js';
import type { Content } from '../library/media-library.js';
import type { Rendition } from '../plan/renditions.js';
import type { MediaKind } from '../store/content-store.js';
import type { Logger } from '../observe/log.js';
import type { Coordinator, SegmentLease } from './cluster.js';
import { DroppedError, type TaskReason } from './encode-queue.js';

/**
 * Heads: when a player (or prefetch, or a CDN pulling linearly) moves
 * linearly through a rendition, ONE encoder process makes a run of its
 * consecutive planned segments instead of one process per segment. The run
 * scheduler is the same for every kind; how a kind makes a run is its
 * RunMaker's (video: package/run-segments.ts; audio can plug in its own).
 *
 * Each segment of a head is a single-flight entry from the moment the head
 * is started, so a player asking for segment N+1 waits for the head and gets
 * N+1 as soon as it is stored, not when the run ends. A head:
 * - covers the consecutive segments from its first that are neither stored
 *   nor being made here, at most `run_segments` of them;
 * - takes the cluster lease of each before its encode starts, in order, and
 *   ends before the first it cannot get (another instance makes it, or has it);
 * - runs in one encode worker at the priority of its first segment (prefetch,
 *   raised when a player waits for any of its segments), and stops when its
 *   player seeks away (the prefetch signal) or when the queue pre-empts it
 *   for a start: what the encoder had not finished is thrown away with its
 *   work directory, never stored;
 * - hands every segment it did not make to the single-span path (a player
 *   waits for it), or drops it (nobody does any more).
 */

export interface RunJob {
  content: Content;
  found: Rendition;
  /** 0-based indexes, consecutive. */
  indexes: number[];
  reason: TaskReason;
  signal: AbortSignal;
  /** A segment checked and ready to store, in order. */
  made: (position: number, segment: Buffer) => Promise<void>;
}

/** How one kind of media is made in runs. */
export interface RunMaker {
  /** Whether this rendition can be made in a run now (e.g. its encoder); when not, its segments are made as spans. */
  canRun(content: Content, found: Rendition): Promise<boolean>;
  make(job: RunJob): Promise<void>;
}

export interface HeadSegment {
  content: Content;
  kind: MediaKind;
  renditionId: string;
  /** 1-based. */
  number: number;
}

/** What heads need of the origin: its store, flights, queue and single-span path. */
export interface HeadHost {
  coordinator: Coordinator;
  logger: Logger;
  /** The flight key of a segment, its rendition, and how many segments the rendition has. */
  locate(segment: HeadSegment): { key: string; found: Rendition; segmentCount: number };
  isStored(segment: HeadSegment): boolean;
  inFlight(key: string): boolean;
  /** Registers `promise` as the single flight of `key` (nobody else makes it while it is pending). */
  fly(key: string, promise: Promise<Buffer>): Promise<Buffer>;
  /** Runs `work` in an encode worker (the queue's priorities and pre-emption) under the task key `key`. */
  inWorker(key: string, options: HeadOptions, work: (reason: TaskReason) => Promise<void>): Promise<void>;
  raise(key: string, priority: number): void;
  /** A player on another instance waits for `key`: raised if it is encoding here (EncodeQueue.raiseRunning). */
  raiseRunning(key: string): void;
  release(key: string): void;
  isWanted(key: string): boolean;
  /** Stores a made segment, counts it as a transcode for `reason` and announces it (SegmentReady). */
  keep(segment: HeadSegment, bytes: Buffer, reason: TaskReason): Promise<void>;
  /** The single-span path of one segment, for what a head did not make. */
  span(segment: HeadSegment, options: HeadOptions): Promise<Buffer>;
}

export interface HeadOptions {
  signal?: AbortSignal;
  client?: string;
}

interface Slot {
  resolve: (value: Buffer | Promise<Buffer>) => void;
  reject: (err: Error) => void;
  done: boolean;
}

interface Head {
  /** The encode task's key: its first segment's. */
  taskKey: string;
  keys: string[];
  slots: Slot[];
  stop: AbortController;
}

export interface HeadCounters {
  /** Heads started (one encoder process each, once a worker is free). */
  heads: number;
  /** Segments made by heads. */
  segments: number;
}

export class Heads {
  /** The head making each key. */
  private readonly owners = new Map<string, Head>();
  readonly counters: HeadCounters = { heads: 0, segments: 0 };

  constructor(
    private readonly host: HeadHost,
    private readonly makers: Partial<Record<MediaKind, RunMaker>>,
    /** Most segments in one run (encoder.run_segments; 1: no runs). */
    private readonly runSegments: number,
  ) {}

  /**
   * A head from `first` over at most `count` segments (and run_segments); one promise per segment it covers, or
   * undefined when no run is possible here (fewer than two segments to make, a kind without runs): make spans.
   */
  start(first: HeadSegment, count: number, options: HeadOptions = {}): Promise<Buffer>[] | undefined {
    const maker = this.makers[first.kind];
    const length = Math.min(count, this.runSegments);
    if (!maker || length < 2) return undefined;
    const { found, segmentCount } = this.host.locate(first);
    const segments: HeadSegment[] = [];
    const keys: string[] = [];
    // A head stops at a segment that exists or is being made here.
    for (let n = first.number; n < first.number + length && n <= segmentCount; n++) {
      const segment = { ...first, number: n };
      const { key } = this.host.locate(segment);
      if (this.host.isStored(segment) || this.host.inFlight(key)) break;
      segments.push(segment);
      keys.push(key);
    }
    if (segments.length < 2) return undefined;
    const slots: Slot[] = [];
    const promises = keys.map((key) => {
      const made = new Promise<Buffer>((resolve, reject) => slots.push({ resolve, reject, done: false }));
      return this.host.fly(key, made);
    });
    const head: Head = { taskKey: keys[0]!, keys, slots, stop: new AbortController() };
    for (const key of keys) this.owners.set(key, head);
    // The player seeked away (or left): the head stops after the segment it is on.
    const onAbort = () => head.stop.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    void this.drive(head, maker, found, segments, options).finally(() => {
      options.signal?.removeEventListener('abort', onAbort);
      for (const key of keys) if (this.owners.get(key) === head) this.owners.delete(key);
      this.host.release(head.taskKey);
    });
    return promises;
  }

  /** A player waits for `key`: the head making it, if any, runs at its priority. */
  raise(key: string, priority: number): void {
    const head = this.owners.get(key);
    if (head && head.taskKey !== key) this.host.raise(head.taskKey, priority);
  }

  /** A player on another instance waits for `key` (the cluster's "wanted" message): the head making it, if any, is raised. */
  raiseRunning(key: string): void {
    const head = this.owners.get(key);
    if (head && head.taskKey !== key) this.host.raiseRunning(head.taskKey);
  }

  /** Whether a head is making `key` (it stops when the queue needs its worker). */
  owns(key: string): boolean {
    return this.owners.has(key);
  }

  private async drive(head: Head, maker: RunMaker, found: Rendition, segments: HeadSegment[], options: HeadOptions): Promise<void> {
    const content = segments[0]!.content;
    try {
      await this.host.inWorker(head.taskKey, options, async (reason) => {
        if (head.stop.signal.aborted || !(await maker.canRun(content, found))) return;
        const leases = await this.leases(head, segments);
        if (leases.length === 0) return;
        this.counters.heads++;
        try {
          await maker.make({
            content,
            found,
            indexes: segments.slice(0, leases.length).map((s) => s.number - 1),
            reason,
            signal: head.stop.signal,
            made: async (position, bytes) => {
              // Stopped while this one was packaged: not kept (the player has gone elsewhere).
              if (head.stop.signal.aborted) return;
              await this.host.keep(segments[position]!, bytes, reason);
              await leases[position]!.end(true);
              leases[position] = undefined;
              this.counters.segments++;
              head.slots[position]!.done = true;
              head.slots[position]!.resolve(bytes);
              this.host.release(head.keys[position]!);
            },
          });
        } catch (err) {
          // Pre-empted for a start (the queue's own rule): the head ends here, its worker goes to the start.
          if (err instanceof PreemptedError) return;
          throw err;
        } finally {
          for (const lease of leases) await lease?.end(false);
        }
      });
    } catch (err) {
      if (!(err instanceof DroppedError)) this.host.logger.warn({ err: (err as Error).message, segment: segments[0]!.number }, 'an encode run failed: its segments are made one by one');
    }
    this.handOver(head, segments, options);
  }

  /** The leases of the head's segments, in order, up to the first it cannot get (or that was stored meanwhile). */
  private async leases(head: Head, segments: HeadSegment[]): Promise<(SegmentLease | undefined)[]> {
    const leases: (SegmentLease | undefined)[] = [];
    for (const [i, segment] of segments.entries()) {
      if (this.host.isStored(segment)) break;
      const lease = await this.host.coordinator.lease(head.keys[i]!);
      if (!lease) break;
      leases.push(lease);
    }
    return leases;
  }

  /** Segments the head did not make: a span when someone still wants them, else dropped. */
  private handOver(head: Head, segments: HeadSegment[], options: HeadOptions): void {
    for (const [i, slot] of head.slots.entries()) {
      if (slot.done) continue;
      slot.done = true;
      const key = head.keys[i]!;
      this.owners.delete(key);
      if (this.host.isWanted(key) || !options.signal?.aborted) slot.resolve(this.host.span(segments[i]!, options));
      else slot.reject(new DroppedError(`dropped: ${key} (its head stopped)`));
    }
  }
}
