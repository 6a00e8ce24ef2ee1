import type { Content } from '../library/media-library.js';
import type { Logger } from '../observe/log.js';
import { makeAudioRun } from '../package/run-segments.js';
import { spanEncryption, type Protector } from '../package/drm/protector.js';
import { initFields, type Rendition } from '../plan/renditions.js';
import type { SegmentStore } from '../store/segment-store.js';
import { sampleIndexStorageOf, segmentFileOf } from '../store/segment-files.js';
import type { SpanLimits } from '../transcode/transcode.js';
import type { TaskReason } from './encode-queue.js';
import type { RunMaker } from './heads.js';

/**
 * Audio runs for heads (coordinate/heads.ts): a run's segments are the bytes
 * spans make (transcode/audio-run.ts, one AAC encoder per segment), made
 * with two ffmpeg processes and one packager run (one per segment for
 * protected content), so all of a run's segments are complete together.
 */

interface AudioRunDeps {
  segments: SegmentStore;
  limits: SpanLimits;
  logger: Logger;
  protector?: Protector;
  /** The rendition's init segment, made in this worker when there is none yet. */
  initFor(content: Content, found: Rendition, reason: TaskReason): Promise<Buffer>;
}

export function audioRunMaker(deps: AudioRunDeps): RunMaker {
  return {
    canRun: async (_content, found) => found.kind === 'audio',
    make: async ({ content, found, indexes, reason, signal, made }) => {
      if (found.kind !== 'audio') throw new Error('an audio run of a video rendition');
      const init = await deps.initFor(content, found, reason);
      const workDir = await deps.segments.makeWorkDir();
      try {
        await content.withSource((sourcePath) =>
          makeAudioRun({
            sourcePath,
            plan: content.plan,
            rendition: found.rendition,
            indexes,
            workDir,
            init,
            limits: { ...deps.limits, signal },
            indexStorage: sampleIndexStorageOf(deps.segments, content.metadata.hash, found.rendition.trackIndex, deps.logger),
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
