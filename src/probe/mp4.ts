/**
 * Fast probe for MP4 / MOV / M4V: everything we need is in the `moov` box.
 *
 * We walk the top-level box headers with a handful of tiny reads (the `mdat`,
 * which holds all the media and may be many gigabytes, is skipped by its size
 * and never read), read just `moov` into memory and let mp4box.js parse the
 * box tree. We do NOT use `createFile().appendBuffer()`: that also builds
 * mp4box's per-sample objects (hundreds of thousands of JS objects for a long
 * file). Even mp4box's plain box parsing is too slow for a long file's sample
 * tables (it reads stsz/stco/ctts entry by entry into JS arrays: ~40 ms warm,
 * 100-200 ms cold for 2 hours), so those tables are cut out of the buffer
 * before mp4box sees it and read directly into typed arrays; mp4box parses the
 * structure (tracks, headers, sample entries, edit lists).
 *
 * Timestamps must equal what ffmpeg's mov demuxer reports (`ffprobe
 * -show_entries packet=pts`), because the planner cuts with ffmpeg
 * (`trim=start_pts=…`, `-copyts`) on exactly these numbers. ffmpeg does not
 * simply compute "cts - media_time": it rebuilds its packet index from the edit
 * list (libavformat/mov.c `mov_build_index` + `mov_fix_index`, FFmpeg 5.1),
 * which marks out-of-edit packets as discarded, re-bases timestamps and then
 * shifts the track so its first presented pts is exactly the empty-edit offset.
 * That algorithm is ported below (`buildFfmpegIndex`, `applyEditListLikeFfmpeg`),
 * including its quirks, rather than re-derived from the spec.
 */
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { ISOFile, MP4BoxBuffer, MultiBufferStream } from 'mp4box';
import type { AudioTrackProbe, ProbeResult, VideoTrackProbe } from './types.js';
import { classifyLengthPrefixedSample, nalCodecOf, type NalCodec } from './random-access.js';
import { assembleProbeResult } from './result.js';
import { ProbeError } from './errors.js';

/**
 * Thrown when the file is not something this fast path can handle (no moov,
 * fragmented file, no usable video track, odd tables…). The caller should fall
 * back to ffprobe, which is slower but handles everything ffmpeg can read.
 */
export class Mp4ProbeUnsupportedError extends Error {
  override readonly name = 'Mp4ProbeUnsupportedError';
  constructor(readonly reason: string) {
    super(`mp4 fast probe not possible: ${reason}`);
  }
}

/** Refuse to buffer absurd moov boxes (a 24 h 60 fps file has a moov of a few tens of MB). */
const MAX_MOOV_BYTES = 512 * 1024 * 1024;

/** Bytes read from the start of the file in one go: the top-level boxes up to the mdat, often a faststart moov whole. */
export const HEAD_BYTES = 64 * 1024;

export async function probeMp4(path: string): Promise<ProbeResult> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new ProbeError('unreadable', `cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await probeOpenMp4(fh, path);
  } finally {
    await fh.close();
  }
}

/**
 * probeMp4 on a file the caller has open (and closes). `head` is the file's
 * first bytes when the caller has read them already (up to HEAD_BYTES).
 * Reads: that head, the header of the first box beyond it (the moov's, when
 * the moov follows the mdat), and the moov in one read (none when the head
 * holds it).
 */
export async function probeOpenMp4(fh: FileHandle, path: string, head?: Buffer): Promise<ProbeResult> {
  try {
    const size = (await fh.stat()).size;
    const start = head ?? (await readHead(fh));
    const top = await scanTopLevelBoxes(fh, size, start);
    if (!top.moov) throw new Mp4ProbeUnsupportedError('no moov box');
    if (top.moov.size > MAX_MOOV_BYTES) throw new Mp4ProbeUnsupportedError(`moov too large (${top.moov.size} bytes)`);
    const moovBuf = new MP4BoxBuffer(top.moov.size);
    moovBuf.fileStart = 0;
    const { offset, size: moovSize } = top.moov;
    if (offset + moovSize <= start.length) new Uint8Array(moovBuf).set(start.subarray(offset, offset + moovSize));
    else await readFully(fh, new Uint8Array(moovBuf), offset);
    return await keepClosedGopKeyframes(fh, analyzeMoov(moovBuf, top.majorBrand));
  } catch (err) {
    // I/O failures (EISDIR, EIO, …) mean the file cannot be read at all.
    if (err instanceof Error && 'code' in err) {
      throw new ProbeError('unreadable', `cannot read ${path}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** The first HEAD_BYTES of the file (fewer when it is shorter). */
export async function readHead(fh: FileHandle): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(HEAD_BYTES);
  const got = await readAt(fh, buf, 0);
  return buf.subarray(0, got);
}

// ---------------------------------------------------------------------------
// Top-level box walk
// ---------------------------------------------------------------------------

interface BoxLocation {
  offset: number;
  size: number;
}

interface TopLevel {
  moov?: BoxLocation;
  /** ftyp major brand, undefined when there is no ftyp (old QuickTime files). */
  majorBrand?: string;
}

async function scanTopLevelBoxes(fh: FileHandle, fileSize: number, head: Buffer): Promise<TopLevel> {
  const out: TopLevel = {};
  const buf = Buffer.alloc(16);
  let offset = 0;
  while (offset + 8 <= fileSize) {
    // The 16 header bytes at `offset`, from the head when it has them (or ends where the file ends).
    let hdr: Buffer = buf;
    let got: number;
    if (offset + 16 <= head.length || (head.length >= fileSize && offset < head.length)) {
      hdr = head.subarray(offset, offset + 16);
      got = hdr.length;
    } else {
      got = await readAt(fh, buf, offset);
    }
    if (got < 8) break;
    let size = hdr.readUInt32BE(0);
    const type = hdr.toString('latin1', 4, 8);
    if (!/^[\x20-\x7e]{4}$/.test(type)) {
      throw new Mp4ProbeUnsupportedError(`invalid box type at offset ${offset}`);
    }
    let headerSize = 8;
    if (size === 1) {
      if (got < 16) throw new Mp4ProbeUnsupportedError(`truncated 64-bit box header at offset ${offset}`);
      const big = hdr.readBigUInt64BE(8);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Mp4ProbeUnsupportedError('box size overflow');
      size = Number(big);
      headerSize = 16;
    } else if (size === 0) {
      size = fileSize - offset; // box extends to end of file
    }
    if (size < headerSize) throw new Mp4ProbeUnsupportedError(`invalid size ${size} for '${type}' at ${offset}`);
    if (offset + size > fileSize) {
      // A truncated trailing mdat is common in partially-written files; the
      // moov is then missing anyway. Anything else truncated is corrupt.
      throw new Mp4ProbeUnsupportedError(`'${type}' at ${offset} extends past end of file`);
    }
    if (type === 'ftyp' && out.majorBrand === undefined && got >= 12) {
      out.majorBrand = hdr.toString('latin1', 8, 12);
    } else if (type === 'moov') {
      out.moov = { offset, size };
      return out;
    }
    offset += size;
  }
  return out;
}

async function readAt(fh: FileHandle, buf: Uint8Array, position: number): Promise<number> {
  const { bytesRead } = await fh.read(buf, 0, buf.length, position);
  return bytesRead;
}

async function readFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Mp4ProbeUnsupportedError('unexpected end of file inside moov');
    done += bytesRead;
  }
}

// ---------------------------------------------------------------------------
// The subset of mp4box's parsed box tree we use. mp4box's own typings declare
// every child box as always present, which it is not; these describe reality.
// ---------------------------------------------------------------------------

interface BoxLike {
  readonly type: string;
  start?: number;
  size: number;
  hdr_size?: number;
  boxes?: BoxLike[];
}
interface FullBoxLike extends BoxLike {
  version?: number;
  flags?: number;
}
interface SampleEntryLike extends BoxLike {
  width?: number;
  height?: number;
  channel_count?: number;
  samplerate?: number;
  pasp?: { hSpacing: number; vSpacing: number };
  avcC?: { lengthSizeMinusOne: number };
  hvcC?: { lengthSizeMinusOne: number };
  esds?: EsdsLike;
  wave?: { esds?: EsdsLike; boxes?: BoxLike[] };
  sinf?: { frma?: { data_format?: string } };
  sinfs?: Array<{ frma?: { data_format?: string } }>;
}
interface DescriptorLike {
  tag?: number;
  oti?: number;
  data?: Uint8Array;
  descs?: DescriptorLike[];
}
interface EsdsLike {
  esd?: DescriptorLike;
}
interface StblLike extends BoxLike {
  stsd?: { entries: SampleEntryLike[] };
}
interface TrakLike extends BoxLike {
  tkhd?: FullBoxLike & { matrix?: ArrayLike<number>; width?: number; height?: number };
  edts?: { elst?: { entries: Array<{ segment_duration: number; media_time: number }> } };
  mdia?: {
    mdhd?: { timescale: number; duration: number; language: number };
    hdlr?: { handler: string };
    minf?: { stbl?: StblLike };
  };
}
interface MoovLike extends BoxLike {
  mvhd?: { timescale: number; matrix?: ArrayLike<number> };
  mvex?: BoxLike;
  traks?: TrakLike[];
}

// ---------------------------------------------------------------------------
// moov analysis
// ---------------------------------------------------------------------------

/**
 * Analyze an in-memory `moov` box (the buffer starts at its header). The
 * buffer is modified: boxes we read ourselves are renamed so mp4box skips them.
 */
export function analyzeMoov(moovBuf: MP4BoxBuffer, majorBrand: string | undefined): MoovAnalysis {
  const tables = extractSampleTables(new DataView(moovBuf));
  const iso = parseQuietly(moovBuf);
  const moov = (iso as unknown as { moov?: MoovLike }).moov;
  if (!moov) throw new Mp4ProbeUnsupportedError('moov could not be parsed');
  if (moov.mvex) throw new Mp4ProbeUnsupportedError('fragmented mp4 (mvex): samples live in moof boxes');
  const movieTimescale = moov.mvhd?.timescale ?? 0;
  if (!movieTimescale) throw new Mp4ProbeUnsupportedError('mvhd timescale is 0');
  const view = new DataView(moovBuf);

  let video: VideoTrackProbe | undefined;
  let syncSamples: SyncSampleCheck | undefined;
  const audio: AudioTrackProbe[] = [];
  const audioEnabled: boolean[] = [];
  let videoOrdinal = 0;

  for (const trak of moov.traks ?? []) {
    const handler = trak.mdia?.hdlr?.handler;
    if (handler === 'vide') {
      const ordinal = videoOrdinal++;
      if (video) continue;
      // ffmpeg numbers every video track (`0:v:N`), usable or not; we take the
      // first one that actually has frames.
      const v = analyzeVideoTrack(trak, tablesOf(tables, trak), ordinal, movieTimescale, moov.mvhd?.matrix, view);
      if (v) ({ track: video, syncSamples } = v);
    } else if (handler === 'soun') {
      const a = analyzeAudioTrack(trak, tablesOf(tables, trak), audio.length, movieTimescale, view);
      audio.push(a);
      audioEnabled.push(((trak.tkhd?.flags ?? 0) & 1) !== 0);
    }
  }
  if (!video) throw new Mp4ProbeUnsupportedError('no video track with frames');

  // ffmpeg's muxer marks the default track with tkhd track_enabled.
  const container = majorBrand === 'qt  ' || majorBrand === undefined ? 'mov' : 'mp4';
  return { probe: assembleProbeResult('mp4box', container, video, audio, audioEnabled), syncSamples };
}

export interface MoovAnalysis {
  /** The probe, with every presented sync sample as a keyframe. */
  probe: ProbeResult;
  /** For H.264/HEVC: where those sync samples are, to keep only the closed-GOP ones (keepClosedGopKeyframes). */
  syncSamples: SyncSampleCheck | undefined;
}

export interface SyncSampleCheck {
  codec: NalCodec;
  /** Bytes of each NAL unit's length prefix (avcC/hvcC lengthSizeMinusOne + 1). */
  lengthSize: number;
  samples: Array<{ pts: number; offset: number; size: number }>;
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
  const { codec, lengthSize, samples } = syncSamples;
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
    const steps = lookups(offset, size);
    let step = steps.next();
    while (!step.done) {
      const got = readSync(fh.fd, buffer, 0, step.value.length, step.value.position);
      step = steps.next(buffer.subarray(0, got));
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

  const verdictAt = new Map<number, boolean>();
  const started = performance.now();
  let next = 0;
  while (next < samples.length) {
    const { offset, size } = samples[next++]!;
    if (!verdictAt.has(offset)) verdictAt.set(offset, classifyNow(offset, size));
    if (next % READ_TIMING_WINDOW === 0 && (performance.now() - started) / next > FAST_READ_MS) break;
  }
  const worker = async () => {
    while (next < samples.length) {
      const { offset, size } = samples[next++]!;
      if (!verdictAt.has(offset)) verdictAt.set(offset, await classifyLater(offset, size));
    }
  };
  await Promise.all(Array.from({ length: NAL_PEEK_CONCURRENCY }, worker));
  const closed = new Set(samples.filter((s) => verdictAt.get(s.offset)).map((s) => s.pts));
  const keyframePts = probe.video.keyframePts.filter((pts) => closed.has(pts));
  return { ...probe, video: { ...probe.video, keyframePts } };
}

/**
 * Parse the box tree. mp4box reports recoverable oddities (e.g. the zero-type
 * terminator atom inside QuickTime 'wave' boxes) with console.error/warn and
 * offers no way to silence its parser; the parse is synchronous, so muting the
 * console just for its duration cannot swallow anybody else's output.
 */
function parseQuietly(moovBuf: MP4BoxBuffer): ISOFile {
  const saved = { error: console.error, warn: console.warn, info: console.info, debug: console.debug };
  const mute = () => {};
  console.error = console.warn = console.info = console.debug = mute;
  try {
    return new ISOFile(new MultiBufferStream(moovBuf));
  } finally {
    Object.assign(console, saved);
  }
}

/** Where a box sits in the moov buffer. */
interface BoxRange {
  start: number;
  size: number;
}

/** Sample tables we read ourselves (first occurrence wins). */
const RECORDED_TABLES = ['stts', 'ctts', 'stss', 'stps', 'stsz', 'stz2', 'stsc', 'stco', 'co64'] as const;
type TableName = (typeof RECORDED_TABLES)[number];

/** Raw sample tables of one trak (boxes located in the moov buffer). */
type SampleTables = { [K in TableName]?: BoxRange } & { sbgp: BoxRange[] };

function isRecordedTable(type: string): type is TableName {
  return (RECORDED_TABLES as readonly string[]).includes(type);
}
/** Per-sample tables we do not need: hidden from mp4box only, for speed. */
const SKIPPED_TABLES = new Set(['sdtp', 'sgpd', 'subs', 'saiz', 'saio', 'cslg', 'padb', 'stdp', 'stsh']);

/**
 * Walk moov -> trak -> mdia -> minf -> stbl in our private copy of the moov,
 * note where each trak's sample tables are, and rename them (and all
 * `udta`/`meta` metadata, which we never read) so mp4box skips them.
 * mp4box would otherwise spend most of the probe time turning the tables into
 * JS arrays, and it logs console errors on QuickTime metadata atoms ('©swr').
 * Returns the tables keyed by the trak box's offset (mp4box's `trak.start`).
 */
function extractSampleTables(view: DataView): Map<number, SampleTables> {
  // 'mdat' is the one box type mp4box skips without copying its payload
  // (twice: every other unknown or 'free' box is copied into memory).
  const HIDDEN = 0x6d646174; // 'mdat'
  const out = new Map<number, SampleTables>();
  const walk = (start: number, end: number, path: string, tables: SampleTables | undefined) => {
    let p = start;
    while (p + 8 <= end) {
      let size = view.getUint32(p);
      const type = String.fromCharCode(view.getUint8(p + 4), view.getUint8(p + 5), view.getUint8(p + 6), view.getUint8(p + 7));
      let header = 8;
      if (size === 1) {
        if (p + 16 > end) return;
        size = Number(view.getBigUint64(p + 8));
        header = 16;
      } else if (size === 0) {
        size = end - p;
      }
      if (size < header || p + size > end) return; // malformed: leave the rest to mp4box
      if (type === 'udta' || type === 'meta') {
        view.setUint32(p + 4, HIDDEN);
      } else if (path === 'moov' && type === 'trak') {
        const t: SampleTables = { sbgp: [] };
        out.set(p, t);
        walk(p + header, p + size, 'trak', t);
      } else if ((path === 'trak' && type === 'mdia') || (path === 'mdia' && type === 'minf') || (path === 'minf' && type === 'stbl')) {
        walk(p + header, p + size, type, tables);
      } else if (path === 'stbl' && tables && (isRecordedTable(type) || SKIPPED_TABLES.has(type) || type === 'sbgp')) {
        const range = { start: p, size };
        if (type === 'sbgp') tables.sbgp.push(range);
        else if (isRecordedTable(type)) tables[type] ??= range;
        view.setUint32(p + 4, HIDDEN);
      }
      p += size;
    }
  };
  if (view.byteLength >= 8) walk(view.getUint32(0) === 1 ? 16 : 8, view.byteLength, 'moov', undefined);
  return out;
}

function tablesOf(all: Map<number, SampleTables>, trak: TrakLike): SampleTables {
  return (trak.start !== undefined && all.get(trak.start)) || { sbgp: [] };
}

function analyzeVideoTrack(
  trak: TrakLike,
  tables: SampleTables,
  ordinal: number,
  movieTimescale: number,
  movieMatrix: ArrayLike<number> | undefined,
  view: DataView,
): { track: VideoTrackProbe; syncSamples: SyncSampleCheck | undefined } | undefined {
  const stbl = trak.mdia?.minf?.stbl;
  const timescale = trak.mdia?.mdhd?.timescale ?? 0;
  const entry = stbl?.stsd?.entries[0];
  if (!stbl || !timescale || !entry) return undefined;

  const index = buildFfmpegIndex(tables, view);
  if (!index || index.n === 0) return undefined;
  const edits = readEdits(trak, timescale, movieTimescale);
  const packets = edits ? applyEditListLikeFfmpeg(index, edits) : presentAll(index);
  if (packets.count === 0) return undefined;
  const { framePts, keyPts, keySrc, maxPts, maxPtsSrc } = collectFrames(packets, index.key);
  const keyframePts = sortedUnique(keyPts.slice());
  const endPts = maxPts + sampleDuration(index, maxPtsSrc);
  const first = framePts[0]!;
  const durationTicks = endPts - first;

  const sar = entry.pasp && entry.pasp.hSpacing > 0 && entry.pasp.vSpacing > 0
    ? reduceRatio(entry.pasp.hSpacing, entry.pasp.vSpacing)
    : '1:1';
  const tkhd = trak.tkhd;
  const codec = videoCodecName(entry);
  const track: VideoTrackProbe = {
    index: ordinal,
    codec,
    width: entry.width || Math.round((tkhd?.width ?? 0) / 65536),
    height: entry.height || Math.round((tkhd?.height ?? 0) / 65536),
    sampleAspectRatio: sar,
    rotation: clockwiseRotation(tkhd?.matrix, movieMatrix),
    timescale,
    frameRate: durationTicks > 0 ? framePts.length / (durationTicks / timescale) : 0,
    framePts,
    keyframePts,
    endPts,
  };
  return { track, syncSamples: syncSampleCheck(codec, entry, keyPts, keySrc, tables, view) };
}

/**
 * Where the presented sync samples of an H.264/HEVC track sit in the file,
 * so the caller can read their NAL headers (undefined for other codecs, or
 * when the chunk tables do not locate them).
 */
function syncSampleCheck(
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
  const samples = Array.from(keyPts, (pts, k) => ({ pts, ...ranges.get(keySrc[k]!)! }));
  return { codec: nalCodec, lengthSize: lengthSizeMinusOne + 1, samples };
}

/**
 * File offset and size of the given samples (ascending indices), from
 * stsc + stco/co64 + stsz/stz2. Only chunks holding a wanted sample are
 * walked sample by sample. Undefined when the tables are missing or do not
 * reach a wanted sample.
 */
function sampleFileRanges(tables: SampleTables, view: DataView, wanted: number[]): Map<number, { offset: number; size: number }> | undefined {
  const stsc = tables.stsc && fullBoxPayload(view, tables.stsc);
  const chunkBox = tables.stco ?? tables.co64;
  const chunks = chunkBox && fullBoxPayload(view, chunkBox);
  const sizeOf = sampleSizeReader(tables, view);
  if (!stsc || !chunks || !sizeOf || stsc.start + 4 > stsc.end || chunks.start + 4 > chunks.end) return undefined;
  const wide = tables.co64 !== undefined && tables.stco === undefined;
  const chunkCount = Math.min(view.getUint32(chunks.start), Math.floor((chunks.end - chunks.start - 4) / (wide ? 8 : 4)));
  const chunkOffset = (c: number) =>
    wide ? Number(view.getBigUint64(chunks.start + 4 + c * 8)) : view.getUint32(chunks.start + 4 + c * 4);
  const entries = Math.min(view.getUint32(stsc.start), Math.floor((stsc.end - stsc.start - 4) / 12));
  const out = new Map<number, { offset: number; size: number }>();
  let w = 0;
  let sample = 0;
  for (let e = 0; e < entries && w < wanted.length; e++) {
    const p = stsc.start + 4 + e * 12;
    const firstChunk = view.getUint32(p) - 1;
    const lastChunk = e + 1 < entries ? view.getUint32(p + 12) - 1 : chunkCount;
    const perChunk = view.getUint32(p + 4);
    for (let c = firstChunk; c < Math.min(lastChunk, chunkCount) && w < wanted.length; c++) {
      if (wanted[w]! < sample + perChunk) {
        let offset = chunkOffset(c);
        for (let s = sample; s < sample + perChunk && w < wanted.length; s++) {
          const size = sizeOf(s);
          if (size === undefined) return undefined;
          if (s === wanted[w]) {
            out.set(s, { offset, size });
            w++;
          }
          offset += size;
        }
      }
      sample += perChunk;
    }
  }
  return w === wanted.length ? out : undefined;
}

/** Size of sample i from stsz (constant or per sample) or stz2 (4, 8 or 16 bits). */
function sampleSizeReader(tables: SampleTables, view: DataView): ((i: number) => number | undefined) | undefined {
  const stsz = tables.stsz && fullBoxPayload(view, tables.stsz);
  if (stsz && stsz.start + 8 <= stsz.end) {
    const constant = view.getUint32(stsz.start);
    const count = view.getUint32(stsz.start + 4);
    if (constant > 0) return (i) => (i < count ? constant : undefined);
    return (i) => (i < count && stsz.start + 8 + i * 4 + 4 <= stsz.end ? view.getUint32(stsz.start + 8 + i * 4) : undefined);
  }
  const stz2 = tables.stz2 && fullBoxPayload(view, tables.stz2);
  if (stz2 && stz2.start + 8 <= stz2.end) {
    const bits = view.getUint8(stz2.start + 3);
    const count = view.getUint32(stz2.start + 4);
    const base = stz2.start + 8;
    return (i) => {
      if (i >= count) return undefined;
      if (bits === 16) return base + i * 2 + 2 <= stz2.end ? view.getUint16(base + i * 2) : undefined;
      if (bits === 8) return base + i < stz2.end ? view.getUint8(base + i) : undefined;
      if (bits === 4) return base + (i >> 1) < stz2.end ? (view.getUint8(base + (i >> 1)) >> (i & 1 ? 0 : 4)) & 0xf : undefined;
      return undefined;
    };
  }
  return undefined;
}

function analyzeAudioTrack(
  trak: TrakLike,
  tables: SampleTables,
  index: number,
  movieTimescale: number,
  view: DataView,
): AudioTrackProbe {
  const stbl = trak.mdia?.minf?.stbl;
  const timescale = trak.mdia?.mdhd?.timescale || 1;
  const entry = stbl?.stsd?.entries[0];
  const { channels, sampleRate } = audioFormat(entry, view);

  // Audio needs no per-frame list, only where presentation starts and ends.
  // ffmpeg starts an audio track exactly at the sum of its leading empty edits
  // (it trims the partial first packet with skip_samples), and each further
  // edit presents min(segment_duration, media left after media_time).
  let startTicks = 0;
  let endTicks = 0;
  const media = mediaExtent(tables, view);
  const edits = readEdits(trak, timescale, movieTimescale);
  if (!edits) {
    startTicks = media.firstCts;
    endTicks = media.end;
  } else {
    let i = 0;
    for (; i < edits.length && edits[i]!.mediaTime === -1; i++) startTicks += edits[i]!.duration;
    endTicks = startTicks;
    for (; i < edits.length; i++) {
      const e = edits[i]!;
      if (e.mediaTime < 0) continue;
      endTicks += Math.max(0, Math.min(e.duration, media.end - e.mediaTime));
    }
  }
  return {
    index,
    codec: entry ? audioCodecName(entry, view) : 'unknown',
    channels,
    sampleRate,
    language: mdhdLanguage(trak.mdia?.mdhd?.language),
    isDefault: false, // decided by the caller once all tracks are known
    startSeconds: startTicks / timescale,
    endSeconds: endTicks / timescale,
  };
}

// ---------------------------------------------------------------------------
// ffmpeg-compatible sample index (port of mov_build_index, FFmpeg 5.1)
// ---------------------------------------------------------------------------

/** ffmpeg's per-track packet index before edit-list processing. */
interface FfmpegIndex {
  n: number;
  /** Index timestamps: decode times minus dts_shift (mov_build_index starts current_dts at -dts_shift). */
  ts: Float64Array;
  key: Uint8Array;
  /** Per-sample composition offsets (ctts expanded 1:1), null when there is no (valid) ctts. */
  ctts: Int32Array | null;
  cttsCount: number;
  /** max(-negative ctts offset), ignoring the last two ctts entries, like mov_read_ctts. */
  dtsShift: number;
  /** stts delta that would apply to the sample after the last one. */
  lastDelta: number;
}

/** ffmpeg option `max_stts_delta` default: larger deltas are read as negative int32 corrections. */
const MAX_STTS_DELTA = 0xffffffff - 48000 * 10;

/** mov_build_index for a video track (the uncompressed-audio chunk mode does not apply). */
function buildFfmpegIndex(tables: SampleTables, view: DataView): FfmpegIndex | undefined {
  const stts = readSttsLikeFfmpeg(tables.stts, view);
  if (!stts || stts.counts.length === 0) return undefined;
  const n = indexedSampleCount(tables, view);
  if (n === 0) return undefined;

  const { ctts, cttsCount, dtsShift } = readCttsLikeFfmpeg(tables.ctts, view, n);

  // Decode timestamps, starting at -dts_shift.
  const ts = new Float64Array(n);
  const si = fillDecodeTimes(ts, n, stts.counts, stts.counts.length, stts.deltas, -dtsShift);

  // Keyframes: stss (1-based; some broken files are 0-based -> key_off),
  // stps (partial sync samples), 'rap ' sample groups.
  const key = new Uint8Array(n);
  const stssNumbers = readUint32Table(tables.stss, view);
  // An stss with zero entries means "no sync samples" (keyframe_absent), not "all".
  const keyframeAbsent = tables.stss !== undefined && stssNumbers.length === 0;
  const stps = readUint32Table(tables.stps, view);
  const keyOff = (stssNumbers.length > 0 && stssNumbers[0]! > 0) || (stps.length > 0 && stps[0]! > 0) ? 1 : 0;
  const rap = readRapGroups(tables.sbgp, view);
  if (stps.length === 0 && rap.length === 0) {
    markStssKeyframes(key, stssNumbers, keyframeAbsent, keyOff);
    return { n, ts, key, ctts, cttsCount, dtsShift, lastDelta: stts.deltas[si]! };
  }
  let stssIdx = 0;
  let stpsIdx = 0;
  let rapIdx = 0;
  let rapSample = 0;
  for (let i = 0; i < n; i++) {
    let k = false;
    if (!keyframeAbsent && (stssNumbers.length === 0 || i + keyOff === stssNumbers[stssIdx])) {
      k = true;
      if (stssIdx + 1 < stssNumbers.length) stssIdx++;
    } else if (stps.length > 0 && i + keyOff === stps[stpsIdx]) {
      k = true;
      if (stpsIdx + 1 < stps.length) stpsIdx++;
    }
    if (rap.length > 0 && rapIdx < rap.length) {
      if (rap[rapIdx]!.index > 0) k = true;
      if (++rapSample === rap[rapIdx]!.count) {
        rapSample = 0;
        rapIdx++;
      }
    }
    // Without any sync information only the first video sample counts as key.
    if (keyframeAbsent && stps.length === 0 && rap.length === 0 && i === 0) k = true;
    key[i] = k ? 1 : 0;
  }

  return { n, ts, key, ctts, cttsCount, dtsShift, lastDelta: stts.deltas[si]! };
}

/**
 * Decode timestamps (mov_build_index) from `first` on: ffmpeg moves to the
 * next stts entry only when the current one's count is reached, so the last
 * entry — or one with a zero count — applies to all remaining samples.
 * Returns the index of the stts entry the last sample used.
 */
function fillDecodeTimes(ts: Float64Array, n: number, counts: number[], entries: number, deltas: number[], first: number): number {
  let dts = first;
  let sample = 0;
  let si = 0;
  for (;;) {
    const delta = deltas[si]!;
    const count = counts[si]!;
    const last = si + 1 >= entries || count === 0;
    const stop = last ? n : Math.min(n, sample + count);
    const consumed = !last && stop === sample + count;
    for (; sample < stop; sample++) {
      ts[sample] = dts;
      dts += delta;
    }
    if (consumed) si++;
    if (sample >= n) break;
  }
  return si;
}

/**
 * The keyframe loop above when only stss is present (the usual case), in
 * O(stss entries) instead of O(samples), with the same result: the loop
 * compares each sample with the current stss entry and moves on only after a
 * match, so the entries match in order, each only at a sample after the
 * previous match; an entry that is out of order (or past the last sample)
 * never matches and stops all later ones from matching.
 */
function markStssKeyframes(key: Uint8Array, stss: Uint32Array, keyframeAbsent: boolean, keyOff: number): void {
  if (keyframeAbsent) {
    // No sync information at all: only the first video sample counts as key.
    key[0] = 1;
    return;
  }
  if (stss.length === 0) {
    key.fill(1); // no stss box: every sample is a sync sample
    return;
  }
  let next = 0; // first sample the loop has not passed yet
  for (let e = 0; e < stss.length; e++) {
    const sample = stss[e]! - keyOff;
    if (sample < next || sample >= key.length) return;
    key[sample] = 1;
    next = sample + 1;
  }
}

/**
 * stts with ffmpeg's correction of "negative" deltas (mov_read_stts): deltas
 * above max_stts_delta are int32-negative DTS corrections, clipped to 1 and
 * paid back by shortening the following deltas. (mp4box would clamp them to 1
 * and lose the correction.)
 */
function readSttsLikeFfmpeg(box: BoxRange | undefined, view: DataView): { counts: number[]; deltas: number[] } | undefined {
  const payload = box && fullBoxPayload(view, box);
  if (!payload) return undefined;
  const end = payload.end;
  let p = payload.start;
  if (p + 4 > end) return undefined;
  const entries = view.getUint32(p);
  p += 4;
  const counts: number[] = [];
  const deltas: number[] = [];
  let currentDts = 0;
  let correctedDts = 0;
  for (let i = 0; i < entries && p + 8 <= end; i++, p += 8) {
    const count = view.getUint32(p);
    const raw = view.getUint32(p + 4);
    let delta = raw;
    if (raw > MAX_STTS_DELTA) {
      const magnitude = raw | 0;
      delta = 1;
      correctedDts += (magnitude < 0 ? magnitude : 1) * count;
    } else {
      correctedDts += raw * count;
    }
    currentDts += delta * count;
    if (currentDts > correctedDts) {
      const drift = Math.trunc((currentDts - correctedDts) / Math.max(count, 1));
      const correction = delta > drift ? drift : delta - 1;
      currentDts -= correction * count;
      delta -= correction;
    }
    counts.push(count);
    deltas.push(delta);
  }
  return { counts, deltas };
}

/**
 * ctts like mov_read_ctts: offsets are signed in both box versions, entries
 * with count <= 0 (as int32) are skipped, an offset beyond ±2^28 invalidates
 * the whole box, and dts_shift (the largest negative offset) ignores the last
 * two entries. Expanded to one offset per sample, as mov_build_index does.
 */
function readCttsLikeFfmpeg(box: BoxRange | undefined, view: DataView, n: number): { ctts: Int32Array | null; cttsCount: number; dtsShift: number } {
  const none = { ctts: null, cttsCount: 0, dtsShift: 0 };
  const payload = box && fullBoxPayload(view, box);
  if (!payload || payload.start + 4 > payload.end) return none;
  const entries = view.getUint32(payload.start);
  if (entries === 0) return none;
  const ctts = new Int32Array(n);
  const dtsShift = new Float64Array(1); // 0 unless expandCtts finds a negative offset
  const cttsCount = expandCtts(view, payload.start + 4, payload.end, entries, n, ctts, dtsShift);
  return cttsCount < 0 ? none : { ctts, cttsCount, dtsShift: dtsShift[0]! };
}

/**
 * readCttsLikeFfmpeg's loop over the entries at `p`: fills `ctts`, returns
 * how many samples it covers (-1 when the box is invalid) and sets dts_shift
 * in `dtsShiftOut[0]` (see "A note on speed" below for the shape).
 */
function expandCtts(view: DataView, p: number, end: number, entries: number, n: number, ctts: Int32Array, dtsShiftOut: Float64Array): number {
  let cttsCount = 0;
  let dtsShift = 0;
  for (let i = 0; i < entries && p + 8 <= end; i++, p += 8) {
    const count = view.getInt32(p);
    const offset = view.getInt32(p + 4);
    if (count <= 0) continue;
    if (-Math.abs(offset) < -(1 << 28) && i + 2 < entries) return -1; // "CTTS invalid"
    if (i + 2 < entries && offset < 0) {
      dtsShift = Math.max(dtsShift, offset === -0x80000000 ? 0x7fffffff : -offset);
      dtsShiftOut[0] = dtsShift;
    }
    const stop = Math.min(n, cttsCount + count);
    while (cttsCount < stop) ctts[cttsCount++] = offset;
  }
  return cttsCount;
}

/** Entry list of a full box made of u32 values after an entry count (stss, stps). */
function readUint32Table(box: BoxRange | undefined, view: DataView): Uint32Array {
  const payload = box && fullBoxPayload(view, box);
  if (!payload || payload.start + 4 > payload.end) return new Uint32Array(0);
  const entries = Math.min(view.getUint32(payload.start), Math.floor((payload.end - payload.start - 4) / 4));
  const out = new Uint32Array(entries);
  for (let i = 0, p = payload.start + 4; i < entries; i++, p += 4) out[i] = view.getUint32(p);
  return out;
}

/** 'rap ' sample-to-group runs (sbgp), which ffmpeg also treats as keyframes. */
function readRapGroups(boxes: BoxRange[], view: DataView): Array<{ count: number; index: number }> {
  for (const box of boxes) {
    const payload = fullBoxPayload(view, box);
    if (!payload || payload.start + 8 > payload.end) continue;
    if (view.getUint32(payload.start) !== 0x72617020 /* 'rap ' */) continue;
    const version = view.getUint8(box.start + (view.getUint32(box.start) === 1 ? 16 : 8));
    let p = payload.start + 4 + (version === 1 ? 4 : 0);
    if (p + 4 > payload.end) continue;
    const entries = view.getUint32(p);
    p += 4;
    const out: Array<{ count: number; index: number }> = [];
    for (let i = 0; i < entries && p + 8 <= payload.end; i++, p += 8) {
      out.push({ count: view.getUint32(p), index: view.getUint32(p + 4) });
    }
    if (out.length > 0) return out;
  }
  return [];
}

/**
 * Byte range of a full box's body (after size, type, optional 64-bit size,
 * version and flags) inside the moov buffer.
 */
function fullBoxPayload(view: DataView, box: BoxRange): { start: number; end: number } | undefined {
  if (box.start + 12 > view.byteLength) return undefined;
  const header = view.getUint32(box.start) === 1 ? 16 : 8;
  const end = Math.min(box.start + box.size, view.byteLength);
  return { start: box.start + header + 4, end };
}

/**
 * Number of samples in ffmpeg's index: the stsz/stz2 sample count, limited to
 * the samples the chunk tables (stsc + stco/co64) actually place in the file.
 */
function indexedSampleCount(tables: SampleTables, view: DataView): number {
  let count = 0;
  const stsz = tables.stsz && fullBoxPayload(view, tables.stsz);
  const stz2 = tables.stz2 && fullBoxPayload(view, tables.stz2);
  if (stsz && stsz.start + 8 <= stsz.end) count = view.getUint32(stsz.start + 4); // sample_size, sample_count
  else if (stz2 && stz2.start + 8 <= stz2.end) count = view.getUint32(stz2.start + 4); // reserved+field_size, count
  const covered = samplesCoveredByChunks(tables, view);
  return covered === undefined ? count : Math.min(count, covered);
}

function samplesCoveredByChunks(tables: SampleTables, view: DataView): number | undefined {
  const stsc = tables.stsc && fullBoxPayload(view, tables.stsc);
  const chunks = (tables.stco ?? tables.co64) && fullBoxPayload(view, (tables.stco ?? tables.co64)!);
  if (!stsc || !chunks || stsc.start + 4 > stsc.end || chunks.start + 4 > chunks.end) return undefined;
  const chunkCount = view.getUint32(chunks.start);
  const entries = Math.min(view.getUint32(stsc.start), Math.floor((stsc.end - stsc.start - 4) / 12));
  if (entries === 0) return undefined;
  let covered = 0;
  for (let i = 0, p = stsc.start + 4; i < entries; i++, p += 12) {
    const first = view.getUint32(p);
    const next = i + 1 < entries ? view.getUint32(p + 12) : chunkCount + 1;
    if (next <= first || first < 1) return undefined; // malformed: ffmpeg repairs these, don't guess
    covered += (next - first) * view.getUint32(p + 4);
  }
  return covered;
}

/**
 * First composition time and end (last dts + its delta) of a track's media,
 * without building a per-sample index (audio tracks have many small samples).
 */
function mediaExtent(tables: SampleTables, view: DataView): { firstCts: number; end: number } {
  const stts = readSttsLikeFfmpeg(tables.stts, view);
  const n = indexedSampleCount(tables, view);
  if (!stts || stts.counts.length === 0 || n === 0) return { firstCts: 0, end: 0 };
  let end = 0;
  let remaining = n;
  for (let i = 0; i < stts.counts.length && remaining > 0; i++) {
    // As in buildFfmpegIndex: the last entry, or one with count 0, never ends.
    const sticky = i === stts.counts.length - 1 || stts.counts[i] === 0;
    const take = sticky ? remaining : Math.min(remaining, stts.counts[i]!);
    end += take * stts.deltas[i]!;
    remaining -= take;
  }
  const { ctts, cttsCount } = readCttsLikeFfmpeg(tables.ctts, view, 1);
  const firstCts = ctts && cttsCount > 0 ? ctts[0]! : 0;
  return { firstCts, end };
}

function sampleDuration(index: FfmpegIndex, i: number): number {
  return i + 1 < index.n ? index.ts[i + 1]! - index.ts[i]! : index.lastDelta;
}

// ---------------------------------------------------------------------------
// Edit list (port of mov_fix_index, FFmpeg 5.1, video branch)
// ---------------------------------------------------------------------------

interface Edit {
  /** Media time in track timescale, -1 for an empty edit. */
  mediaTime: number;
  /** Segment duration converted to track timescale (av_rescale, round to nearest). */
  duration: number;
}

function readEdits(trak: TrakLike, trackTimescale: number, movieTimescale: number): Edit[] | undefined {
  const entries = trak.edts?.elst?.entries;
  if (!entries || entries.length === 0) return undefined;
  return entries.map((e) => ({
    mediaTime: Number(e.media_time),
    duration: rescaleRound(Number(e.segment_duration), trackTimescale, movieTimescale),
  }));
}

/** av_rescale(a, b, c) with AV_ROUND_NEAR_INF, exact for 64-bit inputs. */
function rescaleRound(a: number, b: number, c: number): number {
  const A = BigInt(Math.trunc(a));
  const B = BigInt(b);
  const C = BigInt(c);
  const neg = A < 0n;
  const abs = (neg ? -A : A) * B;
  const r = (abs + C / 2n) / C;
  return Number(neg ? -r : r);
}

/** The packets ffmpeg presents (not flagged discard), in demux order. */
interface PresentedPackets {
  count: number;
  /** pts as ffprobe reports it, before `shift`: index timestamp + dts_shift + ctts (or just the timestamp without ctts). */
  pts: Float64Array;
  /** Source sample of each packet (a sample may be presented by several edits). */
  src: Int32Array;
  /** To subtract from every pts (the video track's final shift, see applyEditListLikeFfmpeg); 0 for none. */
  shift: number;
}

/*
 * A note on speed. The loops over every frame (172,680 for two hours) are the
 * probe's cost. On a first request they run before V8 has optimised them: the
 * interpreter runs a loop until its optimised (OSR) version is compiled, on a
 * background thread, and that compile takes longer the larger the function
 * around the loop is. So each per-frame loop sits in a small function of its
 * own (fillDecodeTimes, expandCtts, presentAllPackets, presentEditPackets,
 * presentedFrames), and the loops are as few as the algorithm allows.
 *
 * A running server probes each new file with the optimised code of the last
 * one only if that code never bails out. V8 records type feedback from a
 * function's first iterations on; whatever runs only before the loop of a
 * first call (no feedback yet) or only after it (not yet run when the loop
 * was compiled) has none, and optimised code bails out there. So these
 * functions do nothing but their loop: they take numbers, typed arrays and
 * arrays their caller allocated (no property reads, no arithmetic up front),
 * write their outputs from inside the loop and return a plain variable.
 */

/** For "no ctts": keeps the packet loops' argument types the same either way. */
const NO_CTTS = new Int32Array(0);

/** No edit list: ffmpeg keeps its index as built, every packet is presented. */
function presentAll(index: FfmpegIndex): PresentedPackets {
  const n = index.n;
  const pts = new Float64Array(n);
  const src = new Int32Array(n);
  presentAllPackets(n, index.ts, index.ctts ?? NO_CTTS, index.ctts ? index.cttsCount : 0, index.dtsShift, pts, src);
  return { count: n, pts, src, shift: 0 };
}

function presentAllPackets(n: number, ts: Float64Array, ctts: Int32Array, withCtts: number, dtsShift: number, pts: Float64Array, src: Int32Array): void {
  for (let i = 0; i < n; i++) {
    pts[i] = i < withCtts ? ts[i]! + dtsShift + ctts[i]! : ts[i]!;
    src[i] = i;
  }
}

/**
 * Rebuild the packet index the way ffmpeg's mov demuxer does for a video track:
 * for each edit, start from the keyframe at/before media_time, keep packets
 * whose cts falls inside [media_time, media_time + duration) and mark the others
 * as discarded (they are still decoded as references but never output), lay
 * the kept packets out back-to-back starting at the edit's position on the
 * timeline, and finally shift the track so the earliest presented pts equals
 * the total of the leading empty edits.
 *
 * Only the presented packets are returned. (ffmpeg also rewrites the
 * timestamps of the discarded packets before an edit's first kept one —
 * fix_index_entry_timestamps — which cannot change any presented pts.)
 */
function applyEditListLikeFfmpeg(index: FfmpegIndex, edits: Edit[]): PresentedPackets {
  const { n, ts, key, dtsShift } = index;
  const ctts = index.ctts ?? NO_CTTS;
  const withCtts = index.ctts ? index.cttsCount : 0;
  // The packets kept so far, across edits, and min_corrected_pts (in a typed array: presentEditPackets updates it).
  let pts = new Float64Array(n);
  let src = new Int32Array(n);
  let count = 0;
  const minCorrectedPts = new Float64Array(1);
  minCorrectedPts[0] = -1;
  let entryEnd = dtsShift > 0 ? -dtsShift : 0; // edit_list_dts_entry_end
  let emptyEditsSum = 0;
  let foundNonEmpty = false;

  for (const edit of edits) {
    const counter = entryEnd; // edit_list_dts_counter
    entryEnd += edit.duration;
    if (!foundNonEmpty && edit.mediaTime === -1) {
      emptyEditsSum += edit.duration;
      continue;
    }
    foundNonEmpty = true;

    let start = findPrevClosestIndex(index, edit.mediaTime, false);
    if (start < 0) start = findPrevClosestIndex(index, edit.mediaTime, true);
    if (start < 0) start = 0;
    const editEnd = edit.duration + edit.mediaTime;
    for (;;) {
      const before: number = minCorrectedPts[0]!;
      const next = presentEditPackets(n, ts, key, index.ctts !== null, ctts, withCtts, dtsShift, edit.mediaTime, edit.duration, editEnd, start, counter, pts, src, count, pts.length, before, minCorrectedPts);
      if (next >= 0) {
        count = next;
        break;
      }
      // Out of room (only with several edits re-using samples): grow, and run this edit again.
      minCorrectedPts[0] = before;
      const grownPts = new Float64Array(pts.length * 2 + 16);
      grownPts.set(pts);
      pts = grownPts;
      const grownSrc = new Int32Array(grownPts.length);
      grownSrc.set(src);
      src = grownSrc;
    }
  }

  // Video only: shift so the first presented pts lands on the empty-edit offset
  // (applied by presentedFrames, which reads every pts once anyway).
  const shift = minCorrectedPts[0]! - emptyEditsSum;
  return { count, pts, src, shift: shift > 0 ? shift : 0 };
}

/**
 * The packet loop of mov_fix_index for one edit (ending at editEnd = duration
 * + mediaTime), from sample `start`: appends the packets it keeps to pts/src
 * from index `count` on and returns the new count, or -1 when more than
 * `capacity` (nothing is committed then). min_corrected_pts goes in as
 * `minCorrectedIn` and comes out in minCorrectedPts[0].
 */
function presentEditPackets(
  n: number,
  oldTs: Float64Array,
  key: Uint8Array,
  hasCtts: boolean,
  ctts: Int32Array,
  withCtts: number,
  dtsShift: number,
  mediaTime: number,
  duration: number,
  editEnd: number,
  start: number,
  counterStart: number,
  pts: Float64Array,
  src: Int32Array,
  count: number,
  capacity: number,
  minCorrectedIn: number,
  minCorrectedPts: Float64Array,
): number {
  let minCorrected = minCorrectedIn;
  let counter = counterStart;
  let started = false; // edit_list_start_encountered
  let foundKeyAfterEdit = false;
  for (let i = start; i < n; i++) {
    const frameDuration = i + 1 < n ? oldTs[i + 1]! - oldTs[i]! : duration;
    const isKey = key[i] === 1; // read on every packet (see "A note on speed")
    let currCts = oldTs[i]! + dtsShift;
    let currCtts = 0;
    if (i < withCtts) {
      currCtts = ctts[i]!;
      currCts += currCtts;
    }
    if (currCts >= mediaTime && currCts < editEnd) {
      const corrected = counter + currCtts + dtsShift;
      if (minCorrected < 0 || corrected < minCorrected) {
        minCorrected = corrected;
        minCorrectedPts[0] = corrected;
      }
      started = true;
      if (count === capacity) return -1;
      // mov_read_packet: pts = dts + dts_shift + ctts, or pts = dts without ctts.
      pts[count] = i < withCtts ? corrected : counter;
      src[count] = i;
      count++;
    }
    // else: AVINDEX_DISCARD_FRAME, decoded (as a reference) but never output.
    // Only start advancing the timeline once the edit's first packet is kept.
    if (started) counter += frameDuration;

    // Stop at the first keyframe past the end of the edit; with ctts wait for
    // the second one, trailing B-frames of the first may still belong to it.
    if (currCts + frameDuration >= editEnd && isKey) {
      if (hasCtts && !foundKeyAfterEdit) {
        foundKeyAfterEdit = true;
        continue;
      }
      break;
    }
  }
  return count;
}

/** find_prev_closest_index (mov.c): keyframe at or before a presentation time. */
function findPrevClosestIndex(index: FfmpegIndex, timestampPts: number, any: boolean): number {
  const { n, ts, key, ctts, cttsCount, dtsShift } = index;
  let t = timestampPts;
  if (dtsShift > 0) t -= dtsShift;
  let idx = indexSearchTimestampBackward(ts, key, n, t, any);
  if (idx >= 0) {
    for (let i = idx; i > 0 && ts[i] === ts[i - 1]; i--) {
      if (any || key[i - 1]) idx = i - 1;
    }
  }
  if (ctts && idx >= 0) {
    // Walk back to a keyframe whose pts is <= the target (B-frame safe).
    // Note: always requires a keyframe, whatever `any` says (as in ffmpeg).
    while (idx >= 0 && idx < cttsCount) {
      if (ts[idx]! + ctts[idx]! <= t && key[idx]) break;
      idx--;
    }
  }
  return idx;
}

/** ff_index_search_timestamp with AVSEEK_FLAG_BACKWARD (index without discard flags). */
function indexSearchTimestampBackward(ts: Float64Array, key: Uint8Array, n: number, wanted: number, any: boolean): number {
  let a = -1;
  let b = n;
  if (b && ts[b - 1]! < wanted) a = b - 1;
  while (b - a > 1) {
    const m = (a + b) >> 1;
    const v = ts[m]!;
    if (v >= wanted) b = m;
    if (v <= wanted) a = m;
  }
  let m = a;
  if (!any) while (m >= 0 && m < n && !key[m]) m--;
  return m === n ? -1 : m;
}

// ---------------------------------------------------------------------------
// Small helpers: codecs, rotation, language, aspect ratio
// ---------------------------------------------------------------------------

/**
 * Everything the probe keeps of the presented packets: the sorted distinct
 * pts, the keyframe pts and the latest pts with its source sample (for the
 * end time), in one pass (presentedFrames).
 */
function collectFrames(packets: PresentedPackets, key: Uint8Array): PresentedFrames {
  const { count, pts, src, shift } = packets;
  // Doubles from the start: the same array type whatever the values, so the loop's optimised code fits every file.
  const sorted = new Array<number>(count).fill(0.5);
  const keyPts = new Float64Array(count);
  const keySrc = new Int32Array(count);
  const out = new Float64Array(3); // [maxPts, its source sample, keyframes]
  const size = presentedFrames(count, pts, src, shift, key, sorted, keyPts, keySrc, out, insertionBudget(count), -Infinity);
  if (size >= 0) {
    sorted.length = size;
    const keys = out[2]!;
    return { framePts: sorted, keyPts: keyPts.subarray(0, keys), keySrc: keySrc.subarray(0, keys), maxPts: out[0]!, maxPtsSrc: out[1]! };
  }
  // Pathological order: everything again, the plain way.
  const all = new Float64Array(count);
  let keys = 0;
  let maxPts = -Infinity;
  let maxPtsSrc = -1;
  for (let k = 0; k < count; k++) {
    const p = pts[k]! - shift;
    all[k] = p;
    if (key[src[k]!] === 1) {
      keyPts[keys] = p;
      keySrc[keys++] = src[k]!;
    }
    if (p > maxPts) {
      maxPts = p;
      maxPtsSrc = src[k]!;
    }
  }
  return { framePts: sortedUnique(all), keyPts: keyPts.subarray(0, keys), keySrc: keySrc.subarray(0, keys), maxPts, maxPtsSrc };
}

interface PresentedFrames {
  framePts: number[];
  /** Presented sync samples in demux order: their pts and source sample index. */
  keyPts: Float64Array;
  keySrc: Int32Array;
  maxPts: number;
  maxPtsSrc: number;
}

/** Element moves after which insertion gives way to a native sort (O(n) for B-frame reordering, far below O(n²)). */
const insertionBudget = (count: number) => 64 * count + 1024;

/**
 * The pass of collectFrames over the packets in demux order. Presentation
 * times in decode order are sorted except for B-frame reordering within a few
 * frames, so inserting each into `sorted` is O(1) on average. Returns the
 * number of distinct pts in `sorted`, or -1 as soon as the insertions have
 * moved more than `budget` elements (pathological order), which the caller
 * then handles the plain way. Writes the keyframes' pts to keyPts and
 * [maxPts, its source sample, keyframe count] to `out` (maxPts starts at
 * `maxPtsIn`, i.e. -Infinity). Same result as sorting all pts and dropping
 * duplicates.
 */
function presentedFrames(
  count: number,
  pts: Float64Array,
  src: Int32Array,
  shift: number,
  key: Uint8Array,
  sorted: number[],
  keyPts: Float64Array,
  keySrc: Int32Array,
  out: Float64Array,
  budget: number,
  maxPtsIn: number,
): number {
  let size = 0;
  let keys = 0;
  let maxPts = maxPtsIn;
  let moves = 0;
  for (let k = 0; k < count; k++) {
    const p = pts[k]! - shift;
    const s = src[k]!;
    if (key[s] === 1) {
      keySrc[keys] = s;
      keyPts[keys++] = p;
      out[2] = keys;
    }
    if (p > maxPts) {
      maxPts = p;
      out[0] = p;
      out[1] = s;
    }
    if (size === 0 || p > sorted[size - 1]!) {
      sorted[size++] = p;
    } else {
      let j = size - 1;
      while (j >= 0 && sorted[j]! > p) j--;
      if (j < 0 || sorted[j] !== p) {
        // Not a duplicate: insert it after sorted[j].
        moves += size - 1 - j;
        if (moves > budget) return -1;
        for (let q = size; q > j + 1; q--) sorted[q] = sorted[q - 1]!;
        sorted[j + 1] = p;
        size++;
      }
    }
  }
  return size;
}

/** Sort (native, in place: the array is consumed) and drop duplicates. */
function sortedUnique(values: Float64Array): number[] {
  values.sort();
  const out: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (i === 0 || v !== values[i - 1]) out.push(v);
  }
  return out;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function reduceRatio(num: number, den: number): string {
  const g = gcd(num, den) || 1;
  return `${num / g}:${den / g}`;
}

/**
 * Clockwise rotation in degrees (0/90/180/270) that must be applied to the
 * decoded picture for display. This is the angle ffmpeg's autorotate applies
 * (90 -> transpose=clock) and the *negation* of ffprobe's display-matrix
 * `rotation` value (ffprobe reports the matrix's counter-clockwise angle, e.g.
 * -90 for a portrait phone clip that must be turned 90° clockwise).
 * tkhd matrix layout: [a b u; c d v; x y w], a/b/c/d in 16.16 fixed point.
 */
function clockwiseRotation(tkhd: ArrayLike<number> | undefined, mvhd: ArrayLike<number> | undefined): number {
  if (!tkhd || tkhd.length < 5) return 0;
  let a = tkhd[0]! / 65536;
  let b = tkhd[1]! / 65536;
  if (mvhd && mvhd.length >= 5) {
    // ffmpeg multiplies the track matrix by the movie matrix; only the first
    // row of the 2x2 rotation/scale part matters for the angle.
    const ma = mvhd[0]! / 65536, mb = mvhd[1]! / 65536, mc = mvhd[3]! / 65536, md = mvhd[4]! / 65536;
    [a, b] = [a * ma + b * mc, a * mb + b * md];
  }
  if (a === 0 && b === 0) return 0;
  return normalizeRotation((Math.atan2(b, a) * 180) / Math.PI);
}

/** Round to the nearest quarter turn and map into 0..359. */
export function normalizeRotation(degrees: number): number {
  if (!Number.isFinite(degrees)) return 0;
  const quarter = Math.round(degrees / 90) * 90;
  return ((quarter % 360) + 360) % 360;
}

const VIDEO_CODECS: Record<string, string> = {
  avc1: 'h264', avc2: 'h264', avc3: 'h264', avc4: 'h264', dvav: 'h264', dva1: 'h264',
  hvc1: 'hevc', hev1: 'hevc', dvh1: 'hevc', dvhe: 'hevc',
  av01: 'av1', dav1: 'av1',
  vp08: 'vp8', vp09: 'vp9',
  vvc1: 'vvc', vvi1: 'vvc',
  apch: 'prores', apcn: 'prores', apcs: 'prores', apco: 'prores', ap4h: 'prores', ap4x: 'prores',
  mjpa: 'mjpeg', mjpb: 'mjpeg', jpeg: 'mjpeg', mjp2: 'jpeg2000',
  s263: 'h263', h263: 'h263',
  'dvc ': 'dvvideo', dvcp: 'dvvideo', dv5n: 'dvvideo', dv5p: 'dvvideo', dvh5: 'dvvideo', dvh6: 'dvvideo',
  mp2v: 'mpeg2video', xdvd: 'mpeg2video', xd55: 'mpeg2video', xd5c: 'mpeg2video', xd5e: 'mpeg2video',
  'raw ': 'rawvideo', yuv2: 'rawvideo', '2vuy': 'rawvideo', v210: 'v210',
};

/** MPEG-4 objectTypeIndication -> ffmpeg codec name (ff_mp4_obj_type). */
const OTI_CODECS: Record<number, string> = {
  0x20: 'mpeg4', 0x21: 'h264', 0x23: 'hevc', 0x60: 'mpeg2video', 0x61: 'mpeg2video', 0x62: 'mpeg2video',
  0x63: 'mpeg2video', 0x64: 'mpeg2video', 0x65: 'mpeg2video', 0x6a: 'mpeg1video', 0x6c: 'mjpeg',
  0x40: 'aac', 0x66: 'aac', 0x67: 'aac', 0x68: 'aac', 0x69: 'mp3', 0x6b: 'mp3',
  0xa5: 'ac3', 0xa6: 'eac3', 0xa9: 'dts', 0xad: 'opus', 0xdd: 'vorbis', 0xe1: 'qcelp',
};

function originalFormat(entry: SampleEntryLike): string {
  if (entry.type === 'encv' || entry.type === 'enca') {
    const fmt = entry.sinf?.frma?.data_format ?? entry.sinfs?.[0]?.frma?.data_format;
    if (fmt) return fmt;
  }
  return entry.type;
}

function esdsOf(entry: SampleEntryLike): EsdsLike | undefined {
  return entry.esds ?? entry.wave?.esds ?? (entry.wave?.boxes?.find((b) => b.type === 'esds') as EsdsLike | undefined);
}

/** DecoderConfigDescriptor (tag 4) inside the ES_Descriptor. */
function decoderConfig(entry: SampleEntryLike): DescriptorLike | undefined {
  const esd = esdsOf(entry)?.esd;
  return esd?.descs?.find((d) => d.tag === 4) ?? esd?.descs?.[0];
}

function videoCodecName(entry: SampleEntryLike): string {
  const fmt = originalFormat(entry);
  if (fmt === 'mp4v') {
    const oti = decoderConfig(entry)?.oti;
    return (oti !== undefined && OTI_CODECS[oti]) || 'mpeg4';
  }
  return VIDEO_CODECS[fmt] ?? fmt.trim();
}

const AUDIO_CODECS: Record<string, string> = {
  'ac-3': 'ac3', 'ec-3': 'eac3', 'ac-4': 'ac4', Opus: 'opus', fLaC: 'flac', alac: 'alac',
  '.mp3': 'mp3', 'mp3 ': 'mp3', '.mp2': 'mp2', samr: 'amr_nb', sawb: 'amr_wb',
  'dtsc': 'dts', 'dtsh': 'dts', 'dtsl': 'dts', 'dtse': 'dts', 'mha1': 'mpegh_3d_audio',
  sowt: 'pcm_s16le', twos: 'pcm_s16be', 'in24': 'pcm_s24be', 'in32': 'pcm_s32be',
  fl32: 'pcm_f32be', fl64: 'pcm_f64be', ulaw: 'pcm_mulaw', alaw: 'pcm_alaw', lpcm: 'pcm_s16le', ipcm: 'pcm_s16be',
};

function audioCodecName(entry: SampleEntryLike, view: DataView): string {
  const fmt = originalFormat(entry);
  if (fmt === 'mp4a') {
    const oti = decoderConfig(entry)?.oti;
    return (oti !== undefined && OTI_CODECS[oti]) || 'aac';
  }
  if (fmt === 'lpcm') return lpcmCodec(readSoundDescription(entry, view));
  return AUDIO_CODECS[fmt] ?? fmt.trim();
}

const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

interface SoundDescription {
  version: number;
  channels: number;
  sampleSize: number;
  sampleRate: number;
  /** QuickTime v2 only. */
  lpcmFlags?: number;
  bitsPerChannel?: number;
}

/**
 * The (QuickTime) sound description of an audio sample entry, read from the
 * box bytes: mp4box only parses the entry types it knows (not 'sowt', 'twos',
 * 'lpcm', …), while every audio entry shares this layout.
 */
function readSoundDescription(entry: SampleEntryLike, view: DataView): SoundDescription | undefined {
  const p = entry.start;
  if (p === undefined || p + 36 > view.byteLength) return undefined;
  const base = p + (view.getUint32(p) === 1 ? 16 : 8) + 8; // box header, reserved(6), data_reference_index(2)
  if (base + 20 > view.byteLength) return undefined;
  const version = view.getUint16(base);
  const desc: SoundDescription = {
    version,
    channels: view.getUint16(base + 8),
    sampleSize: view.getUint16(base + 10),
    sampleRate: view.getUint32(base + 16) >>> 16,
  };
  if (version === 2 && base + 56 <= view.byteLength) {
    // v2: sizeOfStructOnly u32, audioSampleRate f64, numAudioChannels u32,
    // always7F000000 u32, constBitsPerChannel u32, formatSpecificFlags u32, …
    desc.sampleRate = Math.round(view.getFloat64(base + 24));
    desc.channels = view.getUint32(base + 32);
    desc.bitsPerChannel = view.getUint32(base + 40);
    desc.lpcmFlags = view.getUint32(base + 44);
  }
  return desc;
}

/** QuickTime 'lpcm' (v2) -> ffmpeg pcm codec name from the format flags. */
function lpcmCodec(d: SoundDescription | undefined): string {
  const bits = d?.bitsPerChannel || d?.sampleSize || 16;
  const flags = d?.lpcmFlags ?? 0x4 | 0x2;
  const isFloat = (flags & 0x1) !== 0;
  const bigEndian = (flags & 0x2) !== 0;
  const signed = (flags & 0x4) !== 0;
  if (bits === 8) return signed ? 'pcm_s8' : 'pcm_u8';
  return `pcm_${isFloat ? 'f' : signed ? 's' : 'u'}${bits}${bigEndian ? 'be' : 'le'}`;
}

function audioFormat(entry: SampleEntryLike | undefined, view: DataView): { channels: number; sampleRate: number } {
  if (!entry) return { channels: 0, sampleRate: 0 };
  const desc = readSoundDescription(entry, view);
  let channels = desc?.channels ?? entry.channel_count ?? 0;
  let sampleRate = desc?.sampleRate ?? entry.samplerate ?? 0;
  // For AAC ffmpeg trusts the AudioSpecificConfig over the sample entry.
  if (originalFormat(entry) === 'mp4a') {
    const asc = decoderConfig(entry)?.descs?.find((d) => d.tag === 5)?.data;
    const parsed = asc ? parseAudioSpecificConfig(asc) : undefined;
    if (parsed?.channels) channels = parsed.channels;
    if (parsed?.sampleRate) sampleRate = parsed.sampleRate;
  }
  return { channels, sampleRate };
}

function parseAudioSpecificConfig(data: Uint8Array): { sampleRate?: number; channels?: number } | undefined {
  let bitPos = 0;
  const bits = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, bitPos++) {
      const byte = data[bitPos >> 3];
      if (byte === undefined) throw new RangeError('short ASC');
      v = (v << 1) | ((byte >> (7 - (bitPos & 7))) & 1);
    }
    return v >>> 0;
  };
  try {
    let aot = bits(5);
    if (aot === 31) aot = 32 + bits(6);
    const freqIndex = bits(4);
    let sampleRate = freqIndex === 15 ? bits(24) : AAC_SAMPLE_RATES[freqIndex];
    const chanConfig = bits(4);
    if (aot === 5 || aot === 29) {
      // Explicit SBR/PS signalling: the output rate is the extension rate.
      const extIndex = bits(4);
      sampleRate = extIndex === 15 ? bits(24) : AAC_SAMPLE_RATES[extIndex];
    }
    const channels = chanConfig >= 1 && chanConfig <= 6 ? chanConfig : chanConfig === 7 ? 8 : undefined;
    return { sampleRate, channels };
  } catch {
    return undefined;
  }
}

/** Macintosh language codes (mdhd values < 0x400), from ffmpeg's mov_mdhd_language_map. */
const MAC_LANGUAGES = [
  'eng', 'fra', 'ger', 'ita', 'dut', 'sve', 'spa', 'dan', 'por', 'nor', 'heb', 'jpn', 'ara', 'fin',
  'gre', 'ice', 'mlt', 'tur', 'hr ', 'chi', 'urd', 'hin', 'tha', 'kor', 'lit', 'pol', 'hun', 'est', 'lav',
];

/** mdhd language (ISO 639-2/T packed as 3x5 bits, or a Macintosh code) -> ISO 639 code, "und" if unknown. */
function mdhdLanguage(code: number | undefined): string {
  if (code === undefined || code === 0x7fff) return 'und';
  if (code < 0x400) return MAC_LANGUAGES[code]?.trim() || 'und';
  const s = String.fromCharCode(((code >> 10) & 31) + 0x60, ((code >> 5) & 31) + 0x60, (code & 31) + 0x60);
  return /^[a-z]{3}$/.test(s) ? s : 'und';
}
