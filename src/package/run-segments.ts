import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { EncodeError } from '../errors.js';
import { StoppedError } from '../process/runner.js';
import type { AudioRendition, Plan, VideoRendition } from '../plan/plan.js';
import { encodeAudioRun } from '../transcode/audio-run.js';
import type { SampleIndexStorage } from '../transcode/sample-index.js';
import { encodeVideoRun, type RunLimits } from '../transcode/video-run.js';
import type { VideoEncodeOptions } from '../transcode/video-run.js';
import { canonicalizeInit, retimeVideoFragment, setSequenceNumber } from './fmp4.js';
import { packageSpan, packageSpans, type PackagedSpan, type SpanEncryption } from './package.js';
import { fragmentProblem, sameSampleDescription, type FragmentExpectation } from './validate.js';

/**
 * A run's segments as the store takes them: each TS file the run's encoder
 * finishes is packaged (Shaka Packager, as a span is), retimed (video) and
 * numbered as a span's fragment is, and checked against the plan and against
 * the rendition's one init (stsd byte for byte) before it is handed on. A
 * segment that fails a check ends the run (the caller makes the rest as
 * spans, with their retries).
 */

export interface RunParts {
  sourcePath: string;
  plan: Plan;
  /** 0-based indexes of the planned segments, consecutive. */
  indexes: number[];
  workDir: string;
  /** The rendition's init segment: every segment's sample description must be its. */
  init: Uint8Array;
  limits: RunLimits;
  /** What each segment must be (FragmentExpectation of the store's file). */
  expect: (index: number) => FragmentExpectation;
  encryption: (index: number) => Promise<SpanEncryption | undefined>;
  initFields: Parameters<typeof canonicalizeInit>[1];
  /** A checked segment, in order, as soon as it is complete. */
  made: (position: number, segment: Buffer) => Promise<void>;
}

export interface VideoRunJob extends RunParts {
  rendition: VideoRendition;
  options: VideoEncodeOptions;
}

export interface AudioRunJob extends RunParts {
  rendition: AudioRendition;
  /** Where the track's sample index is kept (coarse clocks only). */
  indexStorage?: SampleIndexStorage;
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
    await job.made(position, checked(job, index, packaged, retimeVideoFragment(packaged.segment, planned.start + planned.duration)));
  });
}

/**
 * An audio run: every segment is encoded by encodeAudioRun (two ffmpeg processes, each span its own AAC encoder: the
 * span-made bytes), so they are all complete together; clear content is packaged in one packager run (packageSpans:
 * the same segment bytes as a span's), protected content one span at a time (each segment has its own IV).
 */
export async function makeAudioRun(job: AudioRunJob): Promise<void> {
  const segments = job.indexes.map((i) => job.rendition.segments[i]!);
  const encoded = await encodeAudioRun(job.sourcePath, job.plan, job.rendition, segments, job.workDir, job.limits, job.indexStorage).catch((err: unknown) => {
    // Stopped (its player seeked away): nothing is handed on.
    if (err instanceof StoppedError) return undefined;
    throw err;
  });
  if (!encoded) return;
  const encryptions = await Promise.all(job.indexes.map((index) => job.encryption(index)));
  let packaged: PackagedSpan[];
  if (encryptions.every((e) => e === undefined)) packaged = await packageSpans(encoded.spans, 'audio', job.limits);
  else {
    packaged = [];
    for (const [i, { tsPath, dir }] of encoded.spans.entries()) packaged.push(await packageSpan(tsPath, 'audio', dir, job.limits, encryptions[i]));
  }
  for (const [position, index] of job.indexes.entries()) {
    if (job.limits.signal?.aborted) return;
    await job.made(position, checked(job, index, packaged[position]!, packaged[position]!.segment));
  }
}

/** A segment numbered and checked as a span's is: against the plan and the rendition's init. */
function checked(job: RunParts, index: number, packaged: PackagedSpan, fragment: Uint8Array): Buffer {
  const segment = Buffer.from(setSequenceNumber(fragment, index + 1));
  const problem = fragmentProblem(segment, job.expect(index));
  if (problem) throw new EncodeError(`run segment ${index + 1} does not match the plan: ${problem}`, packaged.log);
  if (!sameSampleDescription(job.init, canonicalizeInit(packaged.init, job.initFields))) {
    throw new EncodeError(`run segment ${index + 1} does not match the rendition init segment`, packaged.log);
  }
  return segment;
}
