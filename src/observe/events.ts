import { EventEmitter } from 'node:events';
import type { MediaKind } from '../store/content-store.js';

/**
 * The pipeline's event bus: the design's five event types, and a degraded
 * segment and a dropped rendition (issue 15). In-process
 * by default; with Redis, events also travel between instances (the Redis
 * coordinator relays them), each marked with the instance it came from.
 */

interface SegmentRef {
  content: string;
  kind: MediaKind;
  rendition: string;
  /** 1-based segment number. */
  segment: number;
}

export type PipelineEvent =
  | ({ type: 'SegmentReady'; bytes: number; source: 'encoded' | 'peer' } & SegmentRef)
  | { type: 'ManifestUpdated'; content: string; manifest: 'hls' | 'dash'; segments: number }
  | ({ type: 'TranscodeCompleted'; encoder: string; encodeMs: number; mediaSeconds: number; speed: number } & SegmentRef)
  | ({ type: 'TranscodeFailed'; reason: string; attempts: number } & SegmentRef)
  | ({ type: 'ProgressUpdate'; mediaSeconds: number; speed: number } & SegmentRef)
  /** Made at the fast speed under load (coordinate/degrade.ts), served until its normal re-make replaces it. */
  | ({ type: 'SegmentDegraded'; why: 'queue' | 'speed'; bytes: number } & SegmentRef)
  /** A rendition left out of the manifests served from now on: its segments kept failing. */
  | { type: 'RenditionDropped'; content: string; kind: MediaKind; rendition: string; failures: number };

export type PipelineEventType = PipelineEvent['type'];
export const EVENT_TYPES: readonly PipelineEventType[] = ['SegmentReady', 'ManifestUpdated', 'TranscodeCompleted', 'TranscodeFailed', 'ProgressUpdate', 'SegmentDegraded', 'RenditionDropped'];

/** An event as delivered: when and where it happened. */
export type StampedEvent = PipelineEvent & { at: string; instance: string };

export class EventBus {
  private readonly emitter = new EventEmitter();
  /** Where local events go beyond this process (Redis), when set. */
  private relay: ((event: StampedEvent) => void) | undefined;

  constructor(readonly instance: string) {
    this.emitter.setMaxListeners(0); // one listener per SSE client
  }

  emit(event: PipelineEvent): void {
    const stamped = { ...event, at: new Date().toISOString(), instance: this.instance } as StampedEvent;
    this.deliver(stamped);
    this.relay?.(stamped);
  }

  /** An event from another instance. */
  deliver(event: StampedEvent): void {
    this.emitter.emit('event', event);
  }

  subscribe(listener: (event: StampedEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  relayTo(relay: (event: StampedEvent) => void): void {
    this.relay = relay;
  }
}
