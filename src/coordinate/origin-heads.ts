import type { EventBus } from '../observe/events.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../metrics.js';
import type { Protector } from '../package/drm/protector.js';
import type { SegmentStore } from '../store/segment-store.js';
import { locate, segmentFileOf } from '../store/segment-files.js';
import type { SpanLimits } from '../transcode/transcode.js';
import type { Coordinator } from './cluster.js';
import type { EncodeQueue, TaskReason } from './encode-queue.js';
import { Heads, type HeadHost, type HeadOptions, type HeadSegment } from './heads.js';
import type { SingleFlight } from './single-flight.js';
import { audioRunMaker, videoRunMaker, type RunMakerDeps } from './run-makers.js';

/**
 * The origin's side of heads (coordinate/heads.ts): its store, flights,
 * queue and single-span path as heads use them, and its run makers (video,
 * audio). What a head makes is stored and announced as a span's is.
 */

interface HostParts {
  segments: SegmentStore;
  metrics: Metrics;
  coordinator: Coordinator;
  queue: EncodeQueue;
  events: EventBus;
  logger: Logger;
  protector?: Protector;
}

/** The origin's store, flights, queue and span path, as heads use them. */
export function headHost(
  parts: HostParts,
  flights: SingleFlight<Buffer>,
  origin: {
    inQueue(key: string, options: HeadOptions, work: (reason: TaskReason) => Promise<void>): Promise<void>;
    span(request: HeadSegment, options: HeadOptions): Promise<Buffer>;
  },
): HeadHost {
  const { segments, queue } = parts;
  const where = (segment: HeadSegment) => locate(segments, segment, parts.protector);
  return {
    coordinator: parts.coordinator,
    logger: parts.logger,
    locate: (segment) => where(segment),
    isStored: (segment) => segments.has(where(segment).stored.path),
    inFlight: (key) => flights.has(key),
    fly: (key, promise) => flights.run(key, () => promise),
    inWorker: (key, options, work) => origin.inQueue(key, options, work),
    raise: (key, priority) => queue.raise(key, priority),
    raiseRunning: (key) => queue.raiseRunning(key),
    release: (key) => queue.release(key),
    isWanted: (key) => queue.isWanted(key),
    keep: async (segment, bytes, reason) => {
      const { found } = where(segment);
      await segments.keep(segmentFileOf(segments, segment.content, found, segment.number), bytes);
      parts.metrics.transcodes.inc({ kind: segment.kind, reason });
      const ref = { content: segment.content.metadata.hash, kind: segment.kind, rendition: segment.renditionId, segment: segment.number };
      parts.events.emit({ type: 'SegmentReady', ...ref, bytes: bytes.length, source: 'encoded' });
      parts.logger.info({ ...ref, bytes: bytes.length, run: true }, 'segment made');
    },
    span: (segment, options) => origin.span(segment, options),
  };
}

/** The origin's heads: video and audio runs, made with its init, encoder, queue and single-span path. */
export function originHeads(
  parts: HostParts & { limits: SpanLimits; runSegments?: number; videoRuns?: boolean },
  flights: SingleFlight<Buffer>,
  origin: Pick<RunMakerDeps, 'initFor' | 'encoderOf'> & Parameters<typeof headHost>[2],
): Heads {
  // Video runs make other bytes than a span (x264 state crosses the cuts): only where configured (encoder.video_runs).
  const video = parts.videoRuns ? { video: videoRunMaker({ ...parts, initFor: origin.initFor, encoderOf: origin.encoderOf }) } : {};
  const audio = audioRunMaker({ ...parts, initFor: origin.initFor, encoderOf: origin.encoderOf });
  return new Heads(headHost(parts, flights, origin), { ...video, audio }, parts.runSegments ?? 1);
}
