import type { Content } from '../library/media-library.js';
import type { EventBus } from '../observe/events.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../metrics.js';
import { makeVideoRun } from '../package/run-segments.js';
import { spanEncryption, type Protector } from '../package/drm/protector.js';
import { initFields, type Rendition } from '../plan/renditions.js';
import type { SegmentStore } from '../store/segment-store.js';
import { locate, segmentFileOf } from '../store/segment-files.js';
import type { VideoEncoderName } from '../transcode/encoders.js';
import type { SpanLimits } from '../transcode/transcode.js';
import { canRun } from '../transcode/video-run.js';
import type { Coordinator } from './cluster.js';
import type { EncodeQueue, TaskReason } from './encode-queue.js';
import { Heads, type HeadHost, type HeadOptions, type HeadSegment, type RunMaker } from './heads.js';
import type { SingleFlight } from './single-flight.js';

/**
 * The origin's side of heads (coordinate/heads.ts): video runs made with the
 * rendition's init and encoder, stored and announced as single spans are.
 */

interface VideoRunDeps {
  segments: SegmentStore;
  limits: SpanLimits;
  protector?: Protector;
  /** The rendition's init segment, made in this worker when there is none yet. */
  initFor(content: Content, found: Rendition, reason: TaskReason): Promise<Buffer>;
  /** The encoder the rendition's segments must use. */
  encoderOf(content: Content, found: Rendition): Promise<VideoEncoderName>;
}

export function videoRunMaker(deps: VideoRunDeps): RunMaker {
  return {
    canRun: async (content, found) => found.kind === 'video' && canRun(found.rendition, { encoder: await deps.encoderOf(content, found) }),
    make: async ({ content, found, indexes, reason, signal, made }) => {
      if (found.kind !== 'video') throw new Error('a video run of an audio rendition');
      const init = await deps.initFor(content, found, reason);
      const workDir = await deps.segments.makeWorkDir();
      try {
        await content.withSource((sourcePath) =>
          makeVideoRun({
            sourcePath,
            plan: content.plan,
            rendition: found.rendition,
            indexes,
            workDir,
            init,
            options: { encoder: 'libx264' },
            limits: { ...deps.limits, signal },
            expect: (index) => segmentFileOf(deps.segments, content, found, index + 1).expect,
            encryption: (index) => spanEncryption(deps.protector, content, found, index + 1),
            initFields: initFields(content.plan, found),
            made,
          }),
        );
      } finally {
        await deps.segments.removeWorkDir(workDir);
      }
    },
  };
}

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

/** The origin's heads: video runs, made with its init, encoder, queue and single-span path. */
export function originHeads(
  parts: HostParts & { limits: SpanLimits; runSegments?: number },
  flights: SingleFlight<Buffer>,
  origin: Pick<VideoRunDeps, 'initFor' | 'encoderOf'> & Parameters<typeof headHost>[2],
): Heads {
  const video = videoRunMaker({ ...parts, initFor: origin.initFor, encoderOf: origin.encoderOf });
  return new Heads(headHost(parts, flights, origin), { video }, parts.runSegments ?? 1);
}
