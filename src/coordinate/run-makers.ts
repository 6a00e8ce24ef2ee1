import type { Content } from '../library/media-library.js';
import type { Logger } from '../observe/log.js';
import { makeAudioRun, makeVideoRun, type RunParts } from '../package/run-segments.js';
import { spanEncryption, type Protector } from '../package/drm/protector.js';
import { initFields, type Rendition } from '../plan/renditions.js';
import type { SegmentStore } from '../store/segment-store.js';
import { sampleIndexStorageOf, segmentFileOf } from '../store/segment-files.js';
import type { VideoEncoderName } from '../transcode/encoders.js';
import type { SpanLimits } from '../transcode/transcode.js';
import { canRun } from '../transcode/video-run.js';
import type { TaskReason } from './encode-queue.js';
import type { RunJob, RunMaker } from './heads.js';

/**
 * How heads (coordinate/heads.ts) make each kind's runs, with the rendition's
 * init, the origin's store and the span's checks. Video: one x264 process
 * over the run, each segment handed on as soon as it is complete (other
 * bytes than a span's, so only with encoder.video_runs). Audio: the bytes
 * spans make (transcode/audio-run.ts, one AAC encoder per segment) from two
 * ffmpeg processes and one packager run (one per segment for protected
 * content), so all of a run's segments are complete together.
 */

export interface RunMakerDeps {
  segments: SegmentStore;
  limits: SpanLimits;
  logger: Logger;
  protector?: Protector;
  /** The rendition's init segment, made in this worker when there is none yet. */
  initFor(content: Content, found: Rendition, reason: TaskReason): Promise<Buffer>;
  /** The encoder the rendition's segments must use. */
  encoderOf(content: Content, found: Rendition): Promise<VideoEncoderName>;
}

export function videoRunMaker(deps: RunMakerDeps): RunMaker {
  return {
    canRun: async (content, found) => found.kind === 'video' && canRun(found.rendition, { encoder: await deps.encoderOf(content, found) }),
    make: (job) =>
      inRunWorkDir(deps, job, async (parts) => {
        if (job.found.kind !== 'video') throw new Error('a video run of an audio rendition');
        await makeVideoRun({ ...parts, rendition: job.found.rendition, options: { encoder: 'libx264' } });
      }),
  };
}

export function audioRunMaker(deps: RunMakerDeps): RunMaker {
  return {
    canRun: async (_content, found) => found.kind === 'audio',
    make: (job) =>
      inRunWorkDir(deps, job, async (parts) => {
        if (job.found.kind !== 'audio') throw new Error('an audio run of a video rendition');
        const { rendition } = job.found;
        const indexStorage = sampleIndexStorageOf(deps.segments, job.content.metadata.hash, rendition.trackIndex, deps.logger);
        await makeAudioRun({ ...parts, rendition, indexStorage });
      }),
  };
}

/** What every kind's run needs: the init (made first), a work directory removed after, the source held open, the checks. */
async function inRunWorkDir(deps: RunMakerDeps, job: RunJob, run: (parts: RunParts) => Promise<void>): Promise<void> {
  const { content, found, indexes, reason, signal, made } = job;
  const init = await deps.initFor(content, found, reason);
  const workDir = await deps.segments.makeWorkDir();
  try {
    await content.withSource((sourcePath) =>
      run({
        sourcePath,
        plan: content.plan,
        indexes,
        workDir,
        init,
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
}
