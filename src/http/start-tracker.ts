import { LRUCache } from 'lru-cache';
import type { MediaKind } from '../store/content-store.js';

/**
 * Which of a player's requests are its start: what it needs before it can
 * show a frame, the work the encode queue puts before every other
 * (coordinate/encode-queue.ts). A start is
 *
 * - an init segment (no rendition plays without one; the origin treats every
 *   init a player asks for as a start, see origin.ts);
 * - segment 1 of any rendition (playback from the beginning);
 * - the first segment after a seek: a segment that does not follow the last
 *   one the same player asked of the same content and kind (audio and video
 *   are followed apart), outside [last - 1, last + 1]. Following on counts
 *   across renditions, so an ABR switch that carries on where the player was
 *   is not a start. A player that asked only an init yet (last = 0) and then
 *   asks segment 12 resumes mid-stream: a start.
 *
 * A player the origin has not seen asking a segment past the first is not
 * taken for a start: its earlier requests may have been answered by a cache
 * in front (CDN, edge), and treating every unknown client's later segment as
 * a start would let a CDN's linear pulls jump ahead of players starting.
 *
 * Players are told apart as prefetch does (http/client.ts).
 */

/** A player idle this long is forgotten (its next request is judged afresh). */
const PLAYER_TTL_MS = 10 * 60_000;

export interface PlayerRequest {
  client: string;
  hash: string;
  kind: MediaKind;
  /** 1-based segment number, or 0 for the init segment. */
  number: number;
}

export class StartTracker {
  /** The last segment each player asked per content and kind (0: only an init so far). */
  private readonly last = new LRUCache<string, number>({ max: 100_000, ttl: PLAYER_TTL_MS, updateAgeOnGet: true });

  /** Whether this request is a start; remembers it as the player's position. */
  isStart({ client, hash, kind, number }: PlayerRequest): boolean {
    const key = `${client}\u0000${hash}\u0000${kind}`;
    const last = this.last.get(key);
    if (number === 0) {
      // An ABR switch asks for the new rendition's init: the player stays where it was.
      if (last === undefined) this.last.set(key, 0);
      return true;
    }
    this.last.set(key, number);
    if (number === 1) return true;
    if (last === undefined) return false;
    return number < last - 1 || number > last + 1;
  }
}
