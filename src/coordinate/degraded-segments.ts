import { LRUCache } from 'lru-cache';
import type { Metrics } from '../metrics.js';
import type { EventBus } from '../observe/events.js';
import type { MediaKind } from '../store/content-store.js';
import { decideSpeed, type DegradeDecision, type DegradePolicy } from './degrade.js';
import { PRIORITY, type EncodeQueue, type TaskReason } from './encode-queue.js';

/**
 * Segments made at the fast speed under load, and what that means for "one
 * URL, the same bytes on any instance". A degraded segment decodes with the
 * rendition's init, but its bytes are not the normal encode's. So it is never
 * written to the store (disk, peers, other instances): it is held here, in
 * memory, served with a short cache lifetime (never `immutable`), and its
 * normal encode is queued below all prefetch (a re-make); once that is stored,
 * the store answers and the degraded copy is dropped. Every instance and every
 * retry thus converges on the normal bytes, and a CDN that cached a degraded
 * copy asks again within its lifetime. The held copies are bounded in bytes:
 * one pushed out, or lost in a restart, is made again (normal when load allows).
 */

/** Priority of a degraded segment's normal re-make: after every prefetch, in the prefetch slots at prefetch niceness. */
export const REMAKE_PRIORITY = PRIORITY.prefetch - 10;

/** Normal encodes per rendition the measured speed is averaged over. */
const SPEED_SAMPLES = 4;

export interface DegradedRef {
  content: string;
  kind: MediaKind;
  rendition: string;
  segment: number;
}

export class DegradedSegments {
  private readonly held: LRUCache<string, Buffer>;
  /** Bodies served from here: the HTTP layer gives them a short lifetime. */
  private readonly bodies = new WeakSet<Uint8Array>();
  /** × real time of the last normal encodes, per content/kind/rendition. */
  private readonly speeds = new LRUCache<string, number[]>({ max: 4096 });

  constructor(
    readonly policy: DegradePolicy,
    private readonly queue: EncodeQueue,
    private readonly metrics: Metrics,
    private readonly events: EventBus,
    maxBytes = 64 * 1024 * 1024,
  ) {
    this.held = new LRUCache<string, Buffer>({ maxSize: maxBytes, sizeCalculation: (b) => Math.max(1, b.length) });
  }

  /** The speed for a player's (or a prefetch's) encode of a segment, from the queue and the rendition's measured speed. */
  decide(ref: DegradedRef, reason: TaskReason, encoder: string, segmentSeconds: number): DegradeDecision {
    const waiting = this.queue.waitingByReason;
    const samples = this.speeds.get(renditionKey(ref));
    const normalSpeed = samples ? samples.reduce((a, b) => a + b, 0) / samples.length : undefined;
    return decideSpeed(this.policy, {
      reason,
      kind: ref.kind,
      encoder,
      waitingPlayers: waiting.start + waiting.request,
      workers: this.queue.workers,
      normalSpeed,
      segmentSeconds,
    });
  }

  /** A normal encode of the rendition finished: media seconds per second of encoding. */
  recordNormalSpeed(ref: DegradedRef, speed: number): void {
    if (!Number.isFinite(speed) || speed <= 0) return;
    const key = renditionKey(ref);
    const samples = [...(this.speeds.get(key) ?? []), speed].slice(-SPEED_SAMPLES);
    this.speeds.set(key, samples);
  }

  /** A degraded segment, made: held, counted, announced. */
  keep(key: string, ref: DegradedRef, body: Buffer, why: 'queue' | 'speed'): void {
    this.held.set(key, body);
    this.bodies.add(body);
    this.metrics.degradedSegments.inc({ kind: ref.kind, why });
    this.events.emit({ type: 'SegmentDegraded', ...ref, why, bytes: body.length });
  }

  /** The degraded copy of a segment whose normal one is not stored yet. */
  get(key: string): Buffer | undefined {
    return this.held.get(key);
  }

  /** The normal segment is stored: the store answers from now on. */
  replaced(key: string): void {
    this.held.delete(key);
  }

  /** Whether a body is a degraded copy (short-lived in caches). */
  isDegraded(body: Uint8Array): boolean {
    return this.bodies.has(body);
  }

  get heldCount(): number {
    return this.held.size;
  }
}

const renditionKey = (ref: DegradedRef) => `${ref.content}/${ref.kind}/${ref.rendition}`;
