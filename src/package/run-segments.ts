import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { EncodeError } from '../errors.js';
import type { Plan, VideoRendition } from '../plan/plan.js';
import { encodeVideoRun, type RunLimits } from '../transcode/video-run.js';
import type { VideoEncodeOptions } from '../transcode/video-run.js';
import { canonicalizeInit, retimeVideoFragment, setSequenceNumber } from './fmp4.js';
import { packageSpan, type SpanEncryption } from './package.js';
import { fragmentProblem, sameSampleDescription, type FragmentExpectation } from './validate.js';

/**
 * A video run's segments as the store takes them: each TS file the run's
 * encoder finishes is packaged on its own (Shaka Packager, as a span is),
 * retimed and numbered as a span's fragment is, and checked against the plan
 * and against the rendition's one init (stsd byte for byte) before it is
 * handed on. A segment that fails a check ends the run (the caller makes the
 * rest as spans, with their retries).
 */

export interface VideoRunJob {
  sourcePath: string;
  plan: Plan;
  rendition: VideoRendition;
  /** 0-based indexes of the planned segments, consecutive. */
  indexes: number[];
  workDir: string;
  /** The rendition's init segment: every segment's sample description must be its. */
  init: Uint8Array;
  options: VideoEncodeOptions;
  limits: RunLimits;
  /** What each segment must be (FragmentExpectation of the store's file). */
  expect: (index: number) => FragmentExpectation;
  encryption: (index: number) => Promise<SpanEncryption | undefined>;
  initFields: Parameters<typeof canonicalizeInit>[1];
  /** A checked segment, in order, as soon as it is complete. */
  made: (position: number, segment: Buffer) => Promise<void>;
}

/** Makes a run; resolves with the segments handed on (fewer when its signal stopped it). */
export async function makeVideoRun(job: VideoRunJob): Promise<{ handed: number; log: string }> {
  const { plan, indexes } = job;
  const segments = indexes.map((i) => plan.videoSegments[i]!);
  return encodeVideoRun(job.sourcePath, plan, job.rendition, segments, job.workDir, job.options, job.limits, async (position, tsPath) => {
    const index = indexes[position]!;
    const planned = segments[position]!;
    const dir = path.join(job.workDir, `package-${position}`);
    await mkdir(dir);
    const packaged = await packageSpan(tsPath, 'video', dir, job.limits, await job.encryption(index));
    const segment = Buffer.from(setSequenceNumber(retimeVideoFragment(packaged.segment, planned.start + planned.duration), index + 1));
    const problem = fragmentProblem(segment, job.expect(index));
    if (problem) throw new EncodeError(`run segment ${index + 1} does not match the plan: ${problem}`, packaged.log);
    if (!sameSampleDescription(job.init, canonicalizeInit(packaged.init, job.initFields))) {
      throw new EncodeError(`run segment ${index + 1} does not match the rendition init segment`, packaged.log);
    }
    await job.made(position, segment);
  });
}
