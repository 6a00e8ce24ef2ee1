import type { Content } from '../library/media-library.js';
import { makeVideoRun } from '../package/run-segments.js';
import { spanEncryption, type Protector } from '../package/drm/protector.js';
import { initFields, type Rendition } from '../plan/renditions.js';
import type { SegmentStore } from '../store/segment-store.js';
import { segmentFileOf } from '../store/segment-files.js';
import type { VideoEncoderName } from '../transcode/encoders.js';
import type { SpanLimits } from '../transcode/transcode.js';
import { canRun } from '../transcode/video-run.js';
import type { TaskReason } from './encode-queue.js';
import type { RunMaker } from './heads.js';

/**
 * Video runs for heads (coordinate/heads.ts): made with the rendition's init
 * and encoder, each segment handed on as soon as it is complete.
 */

export interface VideoRunDeps {
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
