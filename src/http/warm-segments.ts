import { LRUCache } from 'lru-cache';
import type { Metrics } from '../metrics.js';
import type { Prefetcher, PrefetchRequest } from '../prefetch/prefetcher.js';
import type { MediaKind } from '../store/content-store.js';
import type { CachedBody } from './body-cache.js';
import { StartTracker } from './start-tracker.js';

/**
 * Segments and inits recently served, in memory, and what a memory hit
 * costs besides its bytes. Shared by the content route (Hono) and the
 * warm-segment front (segment-front.ts), so both answer from the same cache
 * and keep the same books.
 *
 * A hit's books (the hit counter, the warm latency histogram, the player's
 * position for StartTracker, prefetch of what follows) are kept after the
 * response is written: hits are noted and run in one batch per turn of the
 * event loop (setImmediate). A request that has to judge its player's
 * position itself (a miss: is it a start?) runs the pending batch first, so
 * it sees every hit that came before it.
 */

/** A cached body with the response headers that depend only on the file. */
export interface WarmEntry extends CachedBody {
  /** The Link preload of the next segment, when the origin sends one (unsigned deployments). */
  link: string | undefined;
  /** 1-based segment number, or 0 for the init segment, and the rendition's segment count (a content's plan never changes). */
  number: number;
  segmentCount: number;
}

/** A memory hit, for the books: what prefetch hears of any request, and how long the answer took. */
export interface WarmHit extends PrefetchRequest {
  /** From the request's arrival to its response being written. */
  seconds: number;
}

export class WarmSegments {
  readonly hot: LRUCache<string, WarmEntry>;
  readonly starts = new StartTracker();
  private pending: WarmHit[] = [];
  private scheduled = false;

  constructor(
    private readonly metrics: Metrics,
    private readonly prefetcher: Prefetcher,
    maxBytes: number,
  ) {
    this.hot = new LRUCache<string, WarmEntry>({ maxSize: maxBytes, sizeCalculation: (v) => Math.max(1, v.body.length) });
  }

  /** The cache key of a file: its URL path below /api/v1/content/ (what the front slices off the URL). */
  static key(hash: string, kind: MediaKind, renditionId: string, file: string): string {
    return `${hash}/${kind}/${renditionId}/${file}`;
  }

  /** Notes a player's memory hit; its books are kept after the response (see the class comment). */
  noteHit(hit: WarmHit): void {
    this.pending.push(hit);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Keeps the books of every noted hit now, in the order they were served. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const hits = this.pending;
    this.pending = [];
    this.metrics.hit('memory', hits.length);
    for (const hit of hits) {
      this.metrics.segmentLatency.observe({ path: 'warm' }, hit.seconds);
      this.starts.isStart({ client: hit.client, hash: hit.content.metadata.hash, kind: hit.kind, number: hit.number });
      this.prefetcher.onRequest(hit);
    }
  }
}
