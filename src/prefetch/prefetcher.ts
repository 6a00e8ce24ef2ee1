import { LRUCache } from 'lru-cache';
import { DroppedError } from '../coordinate/encode-queue.js';
import type { Content } from '../library/media-library.js';
import type { MediaKind } from '../store/content-store.js';

/**
 * Stays ahead of each player, following the design's strategy: at start-up
 * the first `startup` segments, in linear play `ahead` segments past the one
 * requested, after a seek `afterSeek` segments from the seek point — for the
 * rendition the player is using (each rendition a player requests is its own
 * playhead, so an ABR switch starts a new one). A seek drops the player's
 * prefetch that has not started yet; a request for the segment the playhead
 * is at (a resend) or for its init changes nothing. Prefetch runs at the lowest priority of
 * the encode queue: a player's request never waits behind it, and the queue
 * holds a player's prefetch while that player has a start waiting or running.
 * After a start (segment 1, or the first segment after a seek) the segment
 * right after it is marked next-up: the queue runs it before other prefetch,
 * at normal CPU priority.
 *
 * A player is known by its playback session id header when it sends one
 * (AVPlayer's X-Playback-Session-Id), else by address and user agent; a CDN
 * pulling linearly is one more player.
 */

export interface PrefetchSettings {
  enabled: boolean;
  startup: number;
  ahead: number;
  afterSeek: number;
  /**
   * Segments one head (one encoder process, coordinate/heads.ts) makes in linear play: once fewer than `ahead`
   * are queued past the player, the next `runSegments` are queued together. 1 or unset: one at a time.
   */
  runSegments?: number;
}

/** Starts a head over `count` segments from `first`: one promise per segment it covers, or undefined (none fits). */
export type StartHead = (first: PrefetchTarget, count: number, signal: AbortSignal, client: string) => Promise<unknown>[] | undefined;

export interface PrefetchTarget {
  content: Content;
  kind: MediaKind;
  renditionId: string;
  number: number;
}

export interface PrefetchRequest {
  client: string;
  content: Content;
  kind: MediaKind;
  renditionId: string;
  /** 0 for the init segment. */
  number: number;
  segmentCount: number;
}

interface Playhead {
  last: number;
  /** The furthest segment queued for this playhead since its last seek. */
  horizon: number;
  /** Aborted when the player seeks away: drops what it queued. */
  controller: AbortController;
}

/** Playheads idle this long are forgotten. */
const PLAYHEAD_TTL_MS = 10 * 60_000;

export class Prefetcher {
  private readonly playheads = new LRUCache<string, Playhead>({
    max: 50_000,
    ttl: PLAYHEAD_TTL_MS,
    updateAgeOnGet: true,
    dispose: (playhead) => playhead.controller.abort(),
  });

  constructor(
    private readonly settings: PrefetchSettings,
    /** Makes (or finds) one segment at prefetch priority; rejects when dropped. */
    /** `nextUp`: the segment the player needs right after its start (see NEXT_UP_PRIORITY in the encode queue). */
    private readonly fetchSegment: (target: PrefetchTarget, signal: AbortSignal, client: string, nextUp: boolean) => Promise<unknown>,
    private readonly isReady: (target: PrefetchTarget) => boolean,
    private readonly onScheduled: (dropped: Promise<boolean>) => void = () => {},
    private readonly startHead?: StartHead,
  ) {}

  /** A player asked for segment `number` (0: the init segment). Returns the segments queued. */
  onRequest(request: PrefetchRequest): number[] {
    if (!this.settings.enabled) return [];
    const { client, content, kind, renditionId, number, segmentCount } = request;
    const key = `${client}\u0000${content.metadata.hash}\u0000${kind}\u0000${renditionId}`;
    let playhead = this.playheads.get(key);
    // The same request again (a player aborting and resending it, the init it needs beside its segment): the player
    // has not moved; no new wave, nothing dropped.
    if (playhead && (number === playhead.last || number === 0)) return [];
    let from: number;
    let count: number;
    // After a start (segment 1, or the first after a seek): the segment after it is the one needed next.
    let nextUp = 0;
    if (!playhead) {
      playhead = { last: number, horizon: number, controller: new AbortController() };
      this.playheads.set(key, playhead);
      // Start-up: the first segments; a player starting mid-stream is a seek.
      [from, count] = number <= 1 ? [Math.max(1, number + 1), this.settings.startup - Math.max(0, number)] : [number + 1, this.settings.afterSeek];
      nextUp = Math.max(2, number + 1);
    } else if (number === playhead.last + 1 || (playhead.last === 0 && number === 1)) {
      // Linear: keep `ahead` segments queued; what was queued before is queued still.
      from = Math.max(number + 1, playhead.horizon + 1);
      count = number + this.settings.ahead - from + 1;
      // With heads, the horizon moves a whole run at a time.
      if (count > 0 && this.runs) count = Math.max(count, this.settings.runSegments!);
    } else {
      playhead.controller.abort();
      playhead.controller = new AbortController();
      [from, count] = [number + 1, this.settings.afterSeek];
      nextUp = number + 1;
      playhead.horizon = number;
    }
    playhead.last = number;
    playhead.horizon = Math.max(playhead.horizon, Math.min(segmentCount, from + count - 1));
    const queued: number[] = [];
    const { signal } = playhead.controller;
    const end = Math.min(from + count - 1, segmentCount);
    for (let n = from; n <= end; n++) {
      const target: PrefetchTarget = { content, kind, renditionId, number: n };
      if (this.isReady(target)) continue;
      // The segment needed next stays a span of its own (it is wanted soon); from the next one on, a head.
      const head = n !== nextUp && this.runs ? this.startHead!(target, end - n + 1, signal, client) : undefined;
      for (const [i, made] of (head ?? [this.fetchSegment(target, signal, client, n === nextUp)]).entries()) {
        queued.push(n + i);
        this.onScheduled(made.then(() => false, (err: unknown) => err instanceof DroppedError));
      }
      if (head) n += head.length - 1;
    }
    return queued;
  }

  private get runs(): boolean {
    return this.startHead !== undefined && (this.settings.runSegments ?? 1) > 1;
  }
}
