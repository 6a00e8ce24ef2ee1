import { LRUCache } from 'lru-cache';
import type { EventBus } from '../observe/events.js';
import type { Logger } from '../observe/log.js';
import type { Plan } from '../plan/plan.js';

/**
 * Video renditions whose segments keep failing, left out of the multivariant
 * playlist and the MPD served from then on: a player that has the rendition
 * already gets its 502 and switches down; a new player never picks it. A
 * rendition is dropped after DROP_AFTER_FAILURES segments in a row failed
 * (each after every try), or at once when its first segment (which its init
 * is made from) fails for a reason in the media, while another video
 * rendition of the content is still offered; the last one is never dropped
 * (then the content as a whole fails, as before). Kept per instance, in
 * memory (a restart offers the rendition again), bounded by content count.
 */

export const DROP_AFTER_FAILURES = 2;

interface ContentRecord {
  /** Failed segments in a row, per video rendition. */
  failures: Map<string, number>;
  dropped: Set<string>;
}

export class RenditionHealth {
  private readonly contents = new LRUCache<string, ContentRecord>({ max: 10_000 });

  constructor(
    private readonly events: EventBus,
    private readonly logger: Logger,
  ) {}

  /** A segment of a video rendition was made. */
  succeeded(hash: string, rendition: string): void {
    this.contents.get(hash)?.failures.delete(rendition);
  }

  /**
   * A segment of a video rendition failed after every try; `firstSegmentFault`: its first segment, for a reason in
   * the media. True when the rendition is (now) left out of the manifests.
   */
  failed(hash: string, plan: Plan, rendition: string, firstSegmentFault: boolean): boolean {
    const record = this.contents.get(hash) ?? { failures: new Map<string, number>(), dropped: new Set<string>() };
    this.contents.set(hash, record);
    if (record.dropped.has(rendition)) return true;
    const failures = (record.failures.get(rendition) ?? 0) + 1;
    record.failures.set(rendition, failures);
    const others = plan.renditions.filter((r) => r.id !== rendition && !record.dropped.has(r.id));
    if ((failures < DROP_AFTER_FAILURES && !firstSegmentFault) || others.length === 0) return false;
    record.dropped.add(rendition);
    this.logger.warn({ content: hash, rendition, failures }, 'rendition left out of the manifests: its segments keep failing');
    this.events.emit({ type: 'RenditionDropped', content: hash, kind: 'video', rendition, failures });
    return true;
  }

  /** Video renditions of a content left out of its manifests. */
  dropped(hash: string): ReadonlySet<string> {
    return this.contents.get(hash)?.dropped ?? NONE;
  }
}

const NONE: ReadonlySet<string> = new Set();

/** The plan a content's manifests are rendered from: without its dropped renditions; `version` tells renders apart. */
export function servedPlan(plan: Plan, dropped: ReadonlySet<string> | undefined): { plan: Plan; version: string } {
  if (!dropped || dropped.size === 0) return { plan, version: '' };
  const renditions = plan.renditions.filter((r) => !dropped.has(r.id));
  return { plan: { ...plan, renditions }, version: `|without:${[...dropped].sort().join(',')}` };
}
