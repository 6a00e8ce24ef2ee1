import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AUDIO_SAMPLE_RATE, type AudioRendition, type AudioSegment, type Plan } from '../plan/plan.js';
import { run, type RunOptions } from '../process/runner.js';
import {
  audioDecodeArgs,
  audioEncodeArgs,
  audioSeekSeconds,
  audioSpanSamples,
  type AudioDecodeOutput,
  type AudioEncodeJob,
  type AudioSpanSamples,
} from './ffmpeg-args.js';
import { keepSampleIndex, sampleIndex, type SampleIndexStorage } from './sample-index.js';
import { SpanError, type EncodedSpan, type SpanLimits } from './span.js';

/**
 * Audio joins without a gap or a click, every sample where a one-pass decode
 * of the source puts it: each span is decoded with real audio before and
 * after it, placed by its first decoded frame's exact position (the packet's
 * time, or the sample index where the container's clock is coarser than a
 * sample), cut to the span's samples, encoded, and the pre/post-roll frames
 * are dropped, so every kept frame sits on one global AAC frame grid. The
 * encoder's priming frame is dropped too, except in segment 1, which starts
 * with it (the decoder needs it for the source's first frame; see the plan).
 *
 * A run makes any number of segments with two ffmpeg processes whatever its
 * length: one decodes every span (each its own input and seek, as a span
 * alone would), one encodes every span with its own AAC encoder and writes
 * its kept frames as MPEG-TS at the plan's tick. Each span is the same work
 * on the same bytes as when it is made alone, so a segment's bytes do not
 * depend on the run that made it. The PCM goes through files: ffmpeg
 * finishes its outputs only when it exits.
 */

export interface AudioRunSpan {
  segment: AudioSegment;
  /** The span's kept AAC frames in MPEG-TS on the output timeline, for the packager. */
  tsPath: string;
  /** The span's own directory (in the run's work directory): where its packager output goes (package.ts packageSpans). */
  dir: string;
}

export interface EncodedAudioRun {
  spans: AudioRunSpan[];
  log: string;
}

/** Encodes `segments` (of one rendition, in any order) into one MPEG-TS file each, in `workDir`. */
export async function encodeAudioRun(
  sourcePath: string,
  plan: Plan,
  audio: AudioRendition,
  segments: readonly AudioSegment[],
  workDir: string,
  /** `signal` stops the run's processes (a StoppedError). */
  limits: SpanLimits & Pick<RunOptions, 'signal'> = {},
  /** Where the track's sample index is kept between runs (coarse clocks only). */
  indexStorage?: SampleIndexStorage,
): Promise<EncodedAudioRun> {
  if (segments.length === 0) return { spans: [], log: '' };
  const dirs = segments.map((segment) => path.join(workDir, `audio-${segment.index + 1}`));
  await Promise.all(dirs.map((dir) => mkdir(dir, { recursive: true })));
  const decodes: AudioDecodeOutput[] = segments.map((segment, i) => ({
    span: audioSpanSamples(audio, segment),
    pcmPath: path.join(dirs[i]!, 'decoded.f32'),
    framesPath: path.join(dirs[i]!, 'frames.crc'),
  }));
  const decoded = await run('ffmpeg', audioDecodeArgs(sourcePath, plan, audio, decodes), limits);
  const jobs: AudioEncodeJob[] = [];
  for (const [i, decode] of decodes.entries()) {
    const pcm = await spanPcm(sourcePath, plan, audio, decode, decoded.log, indexStorage);
    const pcmPath = path.join(dirs[i]!, 'span.f32');
    await writeFile(pcmPath, pcm);
    jobs.push({ segment: segments[i]!, span: decode.span, pcmPath, tsPath: path.join(dirs[i]!, 'audio.ts') });
  }
  const encoded = await run('ffmpeg', audioEncodeArgs(audio, jobs), limits);
  const spans = jobs.map(({ segment, tsPath }, i) => ({ segment, tsPath, dir: dirs[i]! }));
  await expectWritten(spans, decoded.log + encoded.log);
  return { spans, log: decoded.log + encoded.log };
}

/** ffmpeg exits 0 when an output gets no packets; the packager would fail less clearly on an empty file. */
async function expectWritten(spans: readonly AudioRunSpan[], log: string): Promise<void> {
  for (const { segment, tsPath } of spans) {
    if (((await stat(tsPath).catch(() => undefined))?.size ?? 0) === 0) throw new SpanError(`the AAC encode of segment ${segment.index + 1} wrote no frames`, log);
  }
}

/** One segment: a run of one (two ffmpeg processes). */
export async function encodeAudioSpan(
  sourcePath: string,
  plan: Plan,
  audio: AudioRendition,
  segment: AudioSegment,
  workDir: string,
  limits: SpanLimits = {},
  indexStorage?: SampleIndexStorage,
): Promise<EncodedSpan> {
  const { spans, log } = await encodeAudioRun(sourcePath, plan, audio, [segment], workDir, limits, indexStorage);
  return { tsPath: spans[0]!.tsPath, log };
}

/** A span's exact samples out of its decode, placed by its first decoded frame. */
async function spanPcm(
  sourcePath: string,
  plan: Plan,
  audio: AudioRendition,
  { span, pcmPath, framesPath }: AudioDecodeOutput,
  log: string,
  indexStorage: SampleIndexStorage | undefined,
): Promise<Buffer> {
  const listing = await readFile(framesPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
    // ffmpeg writes no listing when it decodes nothing.
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const first = firstDecodedFrame(listing);
  if (!first) throw new SpanError('the source has no decodable audio in this span', log);
  const position = await firstFramePosition(sourcePath, audio, first, audioSeekSeconds(plan, span) === 0, indexStorage);
  if (position === undefined) throw new SpanError(`the audio frame at ${first.pts}/${first.rate} s is not in the track's sample index`, log);
  const pcm = cutSpan(await readFile(pcmPath), Math.round((position * AUDIO_SAMPLE_RATE) / first.rate), span, audio.channels);
  if (!pcm) throw new SpanError(`the decode started after the span (seek landed late)`, log);
  return pcm;
}

/**
 * Where a span's first decoded frame starts in the one-pass decode (samples at
 * its rate). Its time says so exactly on a fine clock, and on any clock when
 * the decode started at the file's start (it is the track's first frame, the
 * index's anchor); else the sample index does. A first span starts the
 * index's scan, so the spans after it need not wait for it.
 */
async function firstFramePosition(
  sourcePath: string,
  audio: AudioRendition,
  first: { pts: number; rate: number; samples: number },
  fromFileStart: boolean,
  indexStorage: SampleIndexStorage | undefined,
): Promise<number | undefined> {
  if (!audio.coarseTimestamps) return first.pts;
  const index = sampleIndex(sourcePath, audio.trackIndex, first.rate, indexStorage);
  if (!fromFileStart) {
    const found = await index;
    await keepSampleIndex(found, indexStorage);
    return found.positionOf(first.pts, first.samples);
  }
  // Not awaited: a scan that fails is logged and not kept; the span that needs it runs it again and fails with it.
  index.catch((err: unknown) => indexStorage?.scanFailed?.(err));
  return first.pts;
}

/**
 * The first frame of a framecrc listing of decoded PCM: its time in samples of
 * its rate (the listing's time base is 1/rate) and its length (a PCM packet's
 * duration is its sample count). Undefined for an empty or unexpected listing.
 */
export function firstDecodedFrame(listing: string): { pts: number; rate: number; samples: number } | undefined {
  const rate = Number(/^#sample_rate 0:\s*(\d+)/m.exec(listing)?.[1]);
  const timeBase = /^#tb 0:\s*(\d+)\/(\d+)/m.exec(listing);
  const frame = /^0,\s*-?\d+,\s*(-?\d+),\s*(\d+),/m.exec(listing);
  if (!rate || !timeBase || !frame || Number(timeBase[1]) !== 1 || Number(timeBase[2]) !== rate) return undefined;
  return { pts: Number(frame[1]), rate, samples: Number(frame[2]) };
}

/**
 * The span's samples out of decoded PCM whose first sample is at `decodedStart`
 * (48 kHz, source timeline); past the decoded end, silence (a last partial
 * frame and its post-roll). Undefined when the decode starts after the span.
 */
function cutSpan(decoded: Uint8Array, decodedStart: number, span: AudioSpanSamples, channels: number): Buffer | undefined {
  const bytesPerSample = 4 * channels;
  const skip = span.startSample - decodedStart;
  if (skip < 0) return undefined;
  const out = Buffer.alloc((span.endSample - span.startSample) * bytesPerSample);
  const from = Math.min(decoded.byteLength, skip * bytesPerSample);
  const to = Math.min(decoded.byteLength, from + out.byteLength);
  out.set(decoded.subarray(from, to));
  return out;
}
