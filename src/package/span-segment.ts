import { EncodeError } from '../errors.js';
import type { Plan } from '../plan/plan.js';
import { initFields, type Rendition } from '../plan/renditions.js';
import type { VideoEncoderName } from '../transcode/encoders.js';
import { packageAudioInit, packageVideoInit } from '../transcode/init-span.js';
import type { SampleIndexStorage } from '../transcode/sample-index.js';
import { encodeAudioSpan, encodeVideoSpan, type EncodedSpan, type SpanLimits } from '../transcode/transcode.js';
import type { SpeedTier } from '../transcode/x264-tiers.js';
import { canonicalizeInit, retimeVideoFragment, setSequenceNumber } from './fmp4.js';
import { packageSpan, type SpanEncryption } from './package.js';
import { fragmentProblem, type FragmentExpectation } from './validate.js';

/**
 * One span's files as the store takes them (the single-span counterpart of
 * run-segments.ts): the span encoded, packaged by Shaka Packager, retimed
 * (video) and numbered, its fragment checked against the plan, its init
 * canonicalized (the caller checks it against the rendition's).
 */

interface SpanFiles {
  sourcePath: string;
  plan: Plan;
  found: Rendition;
  workDir: string;
  encoder: VideoEncoderName | undefined;
  limits: SpanLimits;
  encryption: SpanEncryption | undefined;
  /** Every tool's log is added here, kept when the try fails. */
  trail: { log: string };
}

export interface SpanJob extends SpanFiles {
  /** 0-based. */
  index: number;
  attempt: number;
  tier: SpeedTier;
  expect: FragmentExpectation;
  /** Audio: where the track's sample index is kept. */
  indexStorage: SampleIndexStorage | undefined;
}

export async function makeSpanSegment(job: SpanJob): Promise<{ init: Uint8Array; segment: Buffer }> {
  const { plan, found, index, workDir, encoder, limits, trail } = job;
  const video = found.kind === 'video';
  const span: EncodedSpan = video
    ? // A retry seeks further back, in case the demuxer's seek landed after the cut.
      await encodeVideoSpan(job.sourcePath, plan, found.rendition, plan.videoSegments[index]!, workDir, { encoder, speed: job.tier, ...(job.attempt > 1 ? { extraSeekBackSeconds: 30 } : {}) }, limits)
    : await encodeAudioSpan(job.sourcePath, plan, found.rendition, found.rendition.segments[index]!, workDir, limits, job.indexStorage);
  trail.log += span.log;
  const packaged = await packageSpan(span.tsPath, found.kind, workDir, limits, job.encryption);
  trail.log += packaged.log;
  const planned = plan.videoSegments[index];
  const fragment = video ? retimeVideoFragment(packaged.segment, planned!.start + planned!.duration) : packaged.segment;
  const segment = Buffer.from(setSequenceNumber(fragment, index + 1));
  const problem = fragmentProblem(segment, job.expect);
  if (problem) throw new EncodeError(`segment ${index + 1} does not match the plan: ${problem}`, trail.log);
  return { init: canonicalizeInit(packaged.init, initFields(plan, found)), segment };
}

/** A rendition's init segment: a few frames encoded as its segments are (transcode/init-span.ts), packaged, canonicalized. */
export async function makeInitSegment(job: SpanFiles): Promise<Uint8Array> {
  const { plan, found, workDir, encoder, limits, encryption } = job;
  const packaged =
    found.kind === 'video'
      ? await packageVideoInit(job.sourcePath, plan, found.rendition, workDir, encoder ? { encoder } : {}, limits, encryption)
      : await packageAudioInit(found.rendition, workDir, limits, encryption);
  job.trail.log += packaged.log;
  return canonicalizeInit(packaged.init, initFields(plan, found));
}
