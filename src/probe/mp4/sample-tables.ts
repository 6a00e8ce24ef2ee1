/**
 * The sample tables of one track (stts, ctts, stss, stps, sbgp 'rap ', stsz,
 * stz2, stsc, stco, co64), read straight from the moov bytes into typed
 * arrays, the way ffmpeg's mov demuxer reads them.
 */
import { fullBoxPayload, type BoxRange, type SampleTables } from './boxes.js';

/** ffmpeg option `max_stts_delta` default: larger deltas are read as negative int32 corrections. */
const MAX_STTS_DELTA = 0xffffffff - 48000 * 10;

/**
 * stts with ffmpeg's correction of "negative" deltas (mov_read_stts): deltas
 * above max_stts_delta are int32-negative DTS corrections, clipped to 1 and
 * paid back by shortening the following deltas. (mp4box would clamp them to 1
 * and lose the correction.)
 */
export function readSttsLikeFfmpeg(box: BoxRange | undefined, view: DataView): { counts: number[]; deltas: number[] } | undefined {
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
export function readCttsLikeFfmpeg(box: BoxRange | undefined, view: DataView, n: number): { ctts: Int32Array | null; cttsCount: number; dtsShift: number } {
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
export function readUint32Table(box: BoxRange | undefined, view: DataView): Uint32Array {
  const payload = box && fullBoxPayload(view, box);
  if (!payload || payload.start + 4 > payload.end) return new Uint32Array(0);
  const entries = Math.min(view.getUint32(payload.start), Math.floor((payload.end - payload.start - 4) / 4));
  const out = new Uint32Array(entries);
  for (let i = 0, p = payload.start + 4; i < entries; i++, p += 4) out[i] = view.getUint32(p);
  return out;
}

/** 'rap ' sample-to-group runs (sbgp), which ffmpeg also treats as keyframes. */
export function readRapGroups(boxes: BoxRange[], view: DataView): Array<{ count: number; index: number }> {
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
 * Number of samples in ffmpeg's index: the stsz/stz2 sample count, limited to
 * the samples the chunk tables (stsc + stco/co64) actually place in the file.
 */
export function indexedSampleCount(tables: SampleTables, view: DataView): number {
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
export function mediaExtent(tables: SampleTables, view: DataView): { firstCts: number; end: number } {
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

/**
 * File offset and size of the given samples (ascending indices), from
 * stsc + stco/co64 + stsz/stz2. Only chunks holding a wanted sample are
 * walked sample by sample. Undefined when the tables are missing or do not
 * reach a wanted sample.
 */
export function sampleFileRanges(tables: SampleTables, view: DataView, wanted: number[]): Map<number, { offset: number; size: number }> | undefined {
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

