/**
 * Keeps only closed-GOP keyframes (IDR, BLA) as cut points, by reading the
 * first NAL unit headers of each presented sync sample of an H.264/HEVC track.
 */
import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { ProbeResult } from '../types.js';
import { classifyLengthPrefixedSample, nalCodecOf, type NalCodec } from '../random-access.js';
import { parameterSetNals } from '../parameter-sets.js';
import { decoderConfigRecord, type SampleEntryLike, type SampleTables } from './boxes.js';
import { readAt } from './file-io.js';
import { sampleFileRanges } from './sample-tables.js';

export interface MoovAnalysis {
  /** The probe, with every presented sync sample as a keyframe. */
  probe: ProbeResult;
  /** For H.264/HEVC: where those sync samples are, to keep only the closed-GOP ones (keepClosedGopKeyframes). */
  syncSamples: SyncSampleCheck | undefined;
  /** The moov holds a track ffmpeg may take for subtitles (they are listed by an ffprobe of the header: probe-file.ts). */
  textTracks?: true;
}

export interface SyncSampleCheck {
  codec: NalCodec;
  /** Bytes of each NAL unit's length prefix (avcC/hvcC lengthSizeMinusOne + 1). */
  lengthSize: number;
  /** The presented sync samples, in demux order, as parallel arrays (no object per sample): pts, file offset, bytes. */
  pts: Float64Array;
  offset: Float64Array;
  size: Float64Array;
  /** The avcC/hvcC parameter sets, to decode a sample on its own (first-picture.ts). */
  parameterSets: Uint8Array[];
}

/** Bytes read per look at a sample: enough for the usual keyframe, whose slice comes first or after a short SEI. */
const NAL_PEEK_BYTES = 64;
/**
 * Sync-sample reads go synchronously while they are fast (the file in the
 * page cache: ~5 µs each, several times faster than a thread-pool round
 * trip); once they average more than this (a cold, slow disk), the rest go
 * asynchronously so the event loop is never blocked for long.
 */
const FAST_READ_MS = 0.05;
/** Reads between two looks at their average time. */
const READ_TIMING_WINDOW = 32;
/** Asynchronous reads in flight at once, after the budget. */
const NAL_PEEK_CONCURRENCY = 16;

/**
 * The probe with only closed-GOP keyframes (IDR, BLA) as keyframes: reads
 * the first NAL unit headers of each sync sample (usually one small read).
 * Open-GOP I-frames and CRA pictures stay frames, not cut points.
 */
export async function keepClosedGopKeyframes(fh: FileHandle, analysis: MoovAnalysis): Promise<ProbeResult> {
  const { probe, syncSamples } = analysis;
  if (!syncSamples) return probe;
  const { codec, lengthSize, pts, offset, size } = syncSamples;
  const count = pts.length;
  // One sample's verdict as a sequence of reads (usually one), driven synchronously or asynchronously below.
  function* lookups(offset: number, size: number): Generator<{ position: number; length: number }, boolean, Uint8Array> {
    const end = offset + size;
    let position = offset;
    // A keyframe rarely holds more than a few non-picture NAL units (AUD, SPS, PPS, SEI) before its slice.
    for (let look = 0; look < 16; look++) {
      const bytes = yield { position, length: Math.min(NAL_PEEK_BYTES, end - position) };
      const verdict = classifyLengthPrefixedSample(codec, lengthSize, bytes, position, end);
      if (typeof verdict === 'boolean') return verdict;
      if (verdict <= position || bytes.length === 0) return false;
      position = verdict;
    }
    return false;
  }
  const buffer = new Uint8Array(NAL_PEEK_BYTES);
  const classifyNow = (offset: number, size: number): boolean => {
    // The usual case, one read that reaches the first slice, without the generator (its first step, inlined).
    const got = readSync(fh.fd, buffer, 0, Math.min(NAL_PEEK_BYTES, size), offset);
    const verdict = classifyLengthPrefixedSample(codec, lengthSize, buffer.subarray(0, got), offset, offset + size);
    if (typeof verdict === 'boolean') return verdict;
    const steps = lookups(offset, size);
    let step = steps.next();
    while (!step.done) {
      const read = readSync(fh.fd, buffer, 0, step.value.length, step.value.position);
      step = steps.next(buffer.subarray(0, read));
    }
    return step.value;
  };
  const classifyLater = async (offset: number, size: number): Promise<boolean> => {
    const steps = lookups(offset, size);
    let step = steps.next();
    while (!step.done) {
      const bytes = new Uint8Array(step.value.length);
      const got = await readAt(fh, bytes, step.value.position);
      step = steps.next(bytes.subarray(0, got));
    }
    return step.value;
  };

  // A sample presented by several edits is read once.
  const verdictAt = new Map<number, boolean>();
  const started = performance.now();
  let next = 0;
  while (next < count) {
    const at = offset[next]!;
    if (!verdictAt.has(at)) verdictAt.set(at, classifyNow(at, size[next]!));
    next++;
    if (next % READ_TIMING_WINDOW === 0 && (performance.now() - started) / next > FAST_READ_MS) break;
  }
  const worker = async () => {
    while (next < count) {
      const k = next++;
      const at = offset[k]!;
      if (!verdictAt.has(at)) verdictAt.set(at, await classifyLater(at, size[k]!));
    }
  };
  if (next < count) await Promise.all(Array.from({ length: NAL_PEEK_CONCURRENCY }, worker));
  const closed = new Set<number>();
  for (let k = 0; k < count; k++) if (verdictAt.get(offset[k]!)) closed.add(pts[k]!);
  const keyframePts = probe.video.keyframePts.filter((p) => closed.has(p));
  return { ...probe, video: { ...probe.video, keyframePts } };
}

/**
 * Where the presented sync samples of an H.264/HEVC track sit in the file,
 * so the caller can read their NAL headers (undefined for other codecs, or
 * when the chunk tables do not locate them).
 */
export function syncSampleCheck(
  codec: string,
  entry: SampleEntryLike,
  keyPts: Float64Array,
  keySrc: Int32Array,
  tables: SampleTables,
  view: DataView,
): SyncSampleCheck | undefined {
  const nalCodec = nalCodecOf(codec);
  const lengthSizeMinusOne = (nalCodec === 'h264' ? entry.avcC : entry.hvcC)?.lengthSizeMinusOne;
  if (!nalCodec || lengthSizeMinusOne === undefined || keySrc.length === 0) return undefined;
  const wanted = Array.from(new Set(keySrc)).sort((a, b) => a - b);
  const ranges = sampleFileRanges(tables, view, wanted);
  if (!ranges) return undefined;
  const offset = new Float64Array(keySrc.length);
  const size = new Float64Array(keySrc.length);
  for (let k = 0; k < keySrc.length; k++) {
    const range = ranges.get(keySrc[k]!)!;
    offset[k] = range.offset;
    size[k] = range.size;
  }
  const record = decoderConfigRecord(entry, nalCodec, view);
  const parameterSets = record ? parameterSetNals(nalCodec, record) : [];
  return { codec: nalCodec, lengthSize: lengthSizeMinusOne + 1, pts: keyPts.slice(), offset, size, parameterSets };
}

