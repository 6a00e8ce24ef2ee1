import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { AudioRendition, AudioSegment, Plan, VideoRendition, VideoSegment } from '../plan/plan.js';
import { run, type FfmpegProgress } from '../process/runner.js';
import { splitAdtsFrames } from './adts.js';
import { AUDIO_SAMPLE_RATE } from '../plan/plan.js';
import { audioDecodeArgs, audioEncodeArgs, audioRemuxArgs, audioSeekSeconds, audioSpanSamples, videoEncodeArgs, type AudioSpanSamples, type VideoEncodeOptions } from './ffmpeg-args.js';
import { keepSampleIndex, sampleIndex, type SampleIndexStorage } from './sample-index.js';

/**
 * The transcode stage: one span of the plan in, one MPEG-TS file on the
 * output timeline out, ready for the packager.
 */

export class SpanError extends Error {
  override name = 'SpanError';
  constructor(
    message: string,
    readonly log = '',
  ) {
    super(message);
  }
}

/** How a span's tools run: how long they may go without progress, and who hears of it. */
export interface SpanLimits {
  stallTimeoutMs?: number;
  onProgress?: (progress: FfmpegProgress) => void;
}

export interface EncodedSpan {
  tsPath: string;
  log: string;
}

export async function encodeVideoSpan(
  sourcePath: string,
  plan: Plan,
  rendition: VideoRendition,
  segment: VideoSegment,
  workDir: string,
  options: VideoEncodeOptions = {},
  limits: SpanLimits = {},
): Promise<EncodedSpan> {
  const tsPath = path.join(workDir, 'video.ts');
  const { log } = await run('ffmpeg', videoEncodeArgs(sourcePath, plan, rendition, segment, tsPath, options), limits);
  // ffmpeg exits 0 on a source that is damaged in this span; say so rather than let the packager fail on an empty file.
  const written = (await stat(tsPath).catch(() => undefined))?.size ?? 0;
  if (written === 0) {
    throw new SpanError(`the source has no decodable video in this span (${log.trim().split('\n').pop() || 'no ffmpeg output'})`, log);
  }
  return { tsPath, log };
}

/**
 * Audio joins without a gap or a click, every sample where a one-pass decode
 * of the source puts it: each span is decoded with real audio before and
 * after it, placed by its first decoded frame's exact position (the packet's
 * time, or the sample index where the container's clock is coarser than a
 * sample), cut to the span's samples, encoded, and the pre/post-roll frames
 * are dropped, so every kept frame sits on one global AAC frame grid. The
 * encoder's priming frame is dropped too, except in segment 1, which starts
 * with it (the decoder needs it for the source's first frame; see the plan).
 */
export async function encodeAudioSpan(
  sourcePath: string,
  plan: Plan,
  audio: AudioRendition,
  segment: AudioSegment,
  workDir: string,
  limits: SpanLimits = {},
  /** Where the track's sample index is kept between runs (coarse clocks only). */
  indexStorage?: SampleIndexStorage,
): Promise<EncodedSpan> {
  const span = audioSpanSamples(audio, segment);
  const framesPath = path.join(workDir, 'audio-frames.crc');
  const decoded = await run('ffmpeg', audioDecodeArgs(sourcePath, plan, audio, span, framesPath), limits);
  const listing = await readFile(framesPath, 'utf8').catch((err: NodeJS.ErrnoException) => {
    // ffmpeg writes no listing when it decodes nothing.
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  const first = firstDecodedFrame(listing);
  if (!first) throw new SpanError('the source has no decodable audio in this span', decoded.log);
  const position = await firstFramePosition(sourcePath, audio, first, audioSeekSeconds(plan, span) === 0, indexStorage);
  if (position === undefined) throw new SpanError(`the audio frame at ${first.pts}/${first.rate} s is not in the track's sample index`, decoded.log);
  const pcm = cutSpan(decoded.stdout, Math.round((position * AUDIO_SAMPLE_RATE) / first.rate), span, audio.channels);
  if (!pcm) throw new SpanError(`the decode started after the span (seek landed late)`, decoded.log);
  const encoded = await run('ffmpeg', audioEncodeArgs(audio), { ...limits, input: pcm });
  const frames = splitAdtsFrames(encoded.stdout);
  const kept = frames.slice(span.firstKeptFrame, span.firstKeptFrame + segment.frameCount);
  if (kept.length !== segment.frameCount) {
    throw new SpanError(`audio span produced ${kept.length} of ${segment.frameCount} AAC frames`);
  }
  const tsPath = path.join(workDir, 'audio.ts');
  const remux = await run('ffmpeg', audioRemuxArgs(segment, tsPath), { ...limits, input: Buffer.concat(kept) });
  return { tsPath, log: decoded.log + encoded.log + remux.log };
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
