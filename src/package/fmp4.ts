import { fragmentDecodeTimes } from './decode-times.js';

/**
 * The few ISO-BMFF (fMP4/CMAF) box edits and reads the pipeline needs after
 * Shaka Packager: renumbering fragments, making one canonical init segment per
 * rendition, re-timing video fragments, and reading what validation checks.
 * Edits work on a copy of the bytes; an edit that changes a box's size
 * rebuilds that box and its parents.
 */

export interface Box {
  type: string;
  /** Offset of the box header. */
  start: number;
  /** Offset of the payload (after size/type/largesize). */
  payload: number;
  end: number;
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'moof', 'traf', 'mvex', 'edts', 'dinf', 'udta']);

export function readBoxes(bytes: Uint8Array, start = 0, end = bytes.length): Box[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const boxes: Box[] = [];
  let offset = start;
  while (offset + 8 <= end) {
    let size = view.getUint32(offset);
    const type = String.fromCharCode(bytes[offset + 4]!, bytes[offset + 5]!, bytes[offset + 6]!, bytes[offset + 7]!);
    let header = 8;
    if (size === 1) {
      size = Number(view.getBigUint64(offset + 8));
      header = 16;
    } else if (size === 0) {
      size = end - offset;
    }
    if (size < header || offset + size > end) throw new Error(`malformed box "${type}" at ${offset}`);
    boxes.push({ type, start: offset, payload: offset + header, end: offset + size });
    offset += size;
  }
  return boxes;
}

/** Every box on a path such as ["moof", "traf", "trun"]. */
export function findBoxes(bytes: Uint8Array, path: readonly string[], start = 0, end = bytes.length): Box[] {
  const [head, ...rest] = path;
  const matches = readBoxes(bytes, start, end).filter((b) => b.type === head);
  if (rest.length === 0) return matches;
  return matches.flatMap((b) => (CONTAINERS.has(b.type) ? findBoxes(bytes, rest, b.payload, b.end) : []));
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Sets the fragment sequence number (mfhd), which Shaka restarts at 1 on every run. */
export function setSequenceNumber(segment: Uint8Array, sequence: number): Uint8Array {
  const out = Uint8Array.from(segment);
  const view = dataView(out);
  for (const mfhd of findBoxes(out, ['moof', 'mfhd'])) view.setUint32(mfhd.payload + 4, sequence);
  return out;
}

export interface FragmentSummary {
  sampleCount: number;
  /** baseMediaDecodeTime of the first track fragment. */
  baseMediaDecodeTime: number;
  /** Sum of sample durations. */
  duration: number;
  /** Whether the first sample is a sync sample (sample_depends_on == 2, not non-sync). */
  startsWithSync: boolean;
}

const TRUN_DATA_OFFSET = 0x1;
const TRUN_FIRST_SAMPLE_FLAGS = 0x4;
const TRUN_DURATION = 0x100;
const TRUN_SIZE = 0x200;
const TRUN_FLAGS = 0x400;
const TRUN_CTS = 0x800;
const TFHD_BASE_DATA_OFFSET = 0x1;
const TFHD_SAMPLE_DESCRIPTION = 0x2;
const TFHD_DEFAULT_DURATION = 0x8;
const TFHD_DEFAULT_SIZE = 0x10;
const TFHD_DEFAULT_FLAGS = 0x20;
const SAMPLE_IS_NON_SYNC = 0x10000;

export interface FragmentSample {
  duration: number;
  size: number;
  flags: number;
  compositionOffset: number;
}

function box(type: string, ...parts: Uint8Array[]): Uint8Array {
  const header = new Uint8Array(8);
  dataView(header).setUint32(0, 8 + parts.reduce((n, p) => n + p.length, 0));
  for (let i = 0; i < 4; i++) header[4 + i] = type.charCodeAt(i);
  return Buffer.concat([header, ...parts]);
}

export interface TrackFragment {
  samples: FragmentSample[];
  baseMediaDecodeTime: number;
  tfhd: Box;
  trackId: number;
  /** trun data_offset: where the first sample starts, from the moof (undefined when absent). */
  dataOffset: number | undefined;
  /** Whether tfhd names an explicit base data offset (Shaka uses default-base-is-moof instead). */
  explicitBase: boolean;
  /** trun version: 1 reads composition offsets as signed. */
  trunVersion: number;
}

/** Reads the samples of the one traf/trun Shaka writes per fragment, tfhd defaults applied. */
export function readSamples(segment: Uint8Array, traf: Box): TrackFragment {
  const view = dataView(segment);
  const tfhd = findBoxes(segment, ['tfhd'], traf.payload, traf.end)[0];
  const tfdt = findBoxes(segment, ['tfdt'], traf.payload, traf.end)[0];
  const truns = findBoxes(segment, ['trun'], traf.payload, traf.end);
  if (!tfhd || !tfdt || truns.length !== 1) throw new Error('expected one tfhd, tfdt and trun per fragment');
  const tfhdFlags = view.getUint32(tfhd.payload) & 0xffffff;
  let cursor = tfhd.payload + 8 + (tfhdFlags & TFHD_BASE_DATA_OFFSET ? 8 : 0) + (tfhdFlags & TFHD_SAMPLE_DESCRIPTION ? 4 : 0);
  const take = (flag: number) => {
    if (!(tfhdFlags & flag)) return 0;
    const value = view.getUint32(cursor);
    cursor += 4;
    return value;
  };
  const defaults = { duration: take(TFHD_DEFAULT_DURATION), size: take(TFHD_DEFAULT_SIZE), flags: take(TFHD_DEFAULT_FLAGS) };
  const baseMediaDecodeTime = segment[tfdt.payload] === 1 ? Number(view.getBigUint64(tfdt.payload + 4)) : view.getUint32(tfdt.payload + 4);
  const trun = truns[0]!;
  const version = segment[trun.payload]!;
  const flags = view.getUint32(trun.payload) & 0xffffff;
  const count = view.getUint32(trun.payload + 4);
  const dataOffset = flags & TRUN_DATA_OFFSET ? view.getInt32(trun.payload + 8) : undefined;
  let p = trun.payload + 8 + (flags & TRUN_DATA_OFFSET ? 4 : 0);
  const firstSampleFlags = flags & TRUN_FIRST_SAMPLE_FLAGS ? view.getUint32(p) : undefined;
  if (flags & TRUN_FIRST_SAMPLE_FLAGS) p += 4;
  const field = (flag: number, fallback: number, signed = false) => {
    if (!(flags & flag)) return fallback;
    const value = signed ? view.getInt32(p) : view.getUint32(p);
    p += 4;
    return value;
  };
  const perSample = [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTS].filter((f) => flags & f).length * 4;
  // The count is only a claim: the box must hold that many entries.
  if (p + count * perSample > trun.end) throw new Error(`trun claims ${count} samples, more than it holds`);
  const samples: FragmentSample[] = [];
  for (let i = 0; i < count; i++) {
    const duration = field(TRUN_DURATION, defaults.duration);
    const size = field(TRUN_SIZE, defaults.size);
    const sampleFlags = field(TRUN_FLAGS, i === 0 && firstSampleFlags !== undefined ? firstSampleFlags : defaults.flags);
    const compositionOffset = field(TRUN_CTS, 0, version === 1);
    samples.push({ duration, size, flags: sampleFlags, compositionOffset });
  }
  const trackId = view.getUint32(tfhd.payload + 4);
  return { samples, baseMediaDecodeTime, tfhd, trackId, dataOffset, explicitBase: (tfhdFlags & TFHD_BASE_DATA_OFFSET) !== 0, trunVersion: version };
}

/** Reads what validation needs from a media segment's moof boxes. */
export function summarizeFragment(segment: Uint8Array): FragmentSummary {
  const trafs = findBoxes(segment, ['moof', 'traf']);
  if (trafs.length === 0) throw new Error('segment has no moof/traf');
  let sampleCount = 0;
  let duration = 0;
  let first: { baseMediaDecodeTime: number; startsWithSync: boolean } | undefined;
  for (const traf of trafs) {
    const { samples, baseMediaDecodeTime } = readSamples(segment, traf);
    first ??= { baseMediaDecodeTime, startsWithSync: samples.length > 0 && (samples[0]!.flags & SAMPLE_IS_NON_SYNC) === 0 };
    sampleCount += samples.length;
    for (const sample of samples) duration += sample.duration;
  }
  return { sampleCount, duration, ...first! };
}

/**
 * Re-times a video fragment so it joins its neighbours exactly, whatever its
 * span, and presents where the playlists say without an edit list.
 *
 * Shaka starts a fragment's decode timeline at its first presentation time,
 * leaves x264's B-frame delay in the composition offsets and an edit list to
 * undo it; players that ignore the edit list (hls.js's own bookkeeping) then
 * place the fragment that delay late, and the delay differs between spans of
 * a VFR or gapped source while a rendition has one init segment. Here every
 * sample keeps its presentation time, and decode times follow
 * fragmentDecodeTimes: tfdt is the earliest presentation time, which is the
 * segment's planned start, no offset is negative, and the last sample lasts
 * until `nextStart`, the next segment's planned start, so decode time is
 * contiguous across joins and the durations sum to the planned duration. The
 * init needs no edit list (canonicalizeInit drops it). trun is version 1, as
 * CMAF has it for video (its offsets are signed; none is negative here).
 */
export function retimeVideoFragment(segment: Uint8Array, nextStart: number): Uint8Array {
  const top = readBoxes(segment);
  const moof = top.find((b) => b.type === 'moof');
  const mdat = top.find((b) => b.type === 'mdat');
  if (!moof || !mdat || top.filter((b) => b.type === 'moof').length !== 1) throw new Error('expected one moof and one mdat');
  const traf = findBoxes(segment, ['traf'], moof.payload, moof.end);
  const mfhd = findBoxes(segment, ['mfhd'], moof.payload, moof.end)[0];
  if (traf.length !== 1 || !mfhd) throw new Error('expected one traf per moof');
  const { samples, baseMediaDecodeTime, tfhd } = readSamples(segment, traf[0]!);
  if (samples.length === 0) throw new Error('fragment has no samples');

  // Shaka's presentation time of sample i, minus the first sample's offset (the delay its edit list would remove).
  let decode = baseMediaDecodeTime;
  const presentation = samples.map((s) => {
    const time = decode + s.compositionOffset - samples[0]!.compositionOffset;
    decode += s.duration;
    return time;
  });
  const decodeTimes = fragmentDecodeTimes(presentation, nextStart);

  const trunBody = new Uint8Array(8 + 4 + samples.length * 16);
  const tv = dataView(trunBody);
  // Version 1: signed composition offsets.
  tv.setUint32(0, (1 << 24) | TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | TRUN_CTS);
  tv.setUint32(4, samples.length);
  samples.forEach((s, i) => {
    const at = 12 + i * 16;
    tv.setUint32(at, (decodeTimes[i + 1] ?? nextStart) - decodeTimes[i]!);
    tv.setUint32(at + 4, s.size);
    tv.setUint32(at + 8, s.flags);
    tv.setInt32(at + 12, presentation[i]! - decodeTimes[i]!);
  });
  const tfdtBody = new Uint8Array(12);
  tfdtBody[0] = 1;
  dataView(tfdtBody).setBigUint64(4, BigInt(decodeTimes[0]!));
  const tfhdBytes = segment.slice(tfhd.start, tfhd.end);
  const trun = box('trun', trunBody);
  // An encrypted fragment's sample auxiliary information (saiz, saio, senc) stays, after the trun, as Shaka orders it.
  const kept = readBoxes(segment, traf[0]!.payload, traf[0]!.end).filter((b) => !RETIMED.has(b.type));
  const newMoof = box('moof', segment.slice(mfhd.start, mfhd.end), box('traf', tfhdBytes, box('tfdt', tfdtBody), trun, ...kept.map((b) => segment.slice(b.start, b.end))));
  // data_offset counts from the moof (tfhd default-base-is-moof) to the first sample in mdat.
  const mdatHeader = mdat.payload - mdat.start;
  const newTrun = findBoxes(newMoof, ['moof', 'traf', 'trun'])[0]!;
  dataView(newMoof).setInt32(newTrun.payload + 8, newMoof.length + mdatHeader);
  pointSaioAtSenc(newMoof);

  const parts: Uint8Array[] = [];
  for (const b of top) {
    if (b.type === 'moof') parts.push(newMoof);
    else if (b.type === 'sidx') parts.push(retimedSidx(segment.slice(b.start, b.end), newMoof.length + (mdat.end - mdat.start), decodeTimes[0]!, nextStart - decodeTimes[0]!));
    else parts.push(segment.subarray(b.start, b.end));
  }
  return Buffer.concat(parts);
}

/** The traf boxes retimeVideoFragment writes anew. */
const RETIMED = new Set(['tfhd', 'tfdt', 'trun']);

/**
 * The saio of an encrypted fragment says where its first sample's IV and
 * subsamples are (from the moof): in the senc, after its full-box header and
 * sample count. A rewritten moof moves the senc, so the offset follows it.
 */
function pointSaioAtSenc(moof: Uint8Array): void {
  const saio = findBoxes(moof, ['moof', 'traf', 'saio'])[0];
  const senc = findBoxes(moof, ['moof', 'traf', 'senc'])[0];
  if (!saio && !senc) return;
  if (!saio || !senc) throw new Error('an encrypted fragment needs both saio and senc');
  const view = dataView(moof);
  const version = moof[saio.payload]!;
  const flags = view.getUint32(saio.payload) & 0xffffff;
  let at = saio.payload + 4 + (flags & 1 ? 8 : 0);
  if (view.getUint32(at) !== 1) throw new Error('expected one saio offset');
  at += 4;
  const offset = senc.payload + 8;
  if (version === 1) view.setBigUint64(at, BigInt(offset));
  else view.setUint32(at, offset);
}

/**
 * The earliest presentation time of a track fragment: the smallest decode
 * time plus composition offset over its samples (what players place the
 * fragment at; with signed offsets it is not tfdt + the smallest offset).
 */
export function earliestPresentationTime(fragment: Pick<TrackFragment, 'samples' | 'baseMediaDecodeTime'>): number {
  let decode = fragment.baseMediaDecodeTime;
  let earliest = Infinity;
  for (const sample of fragment.samples) {
    earliest = Math.min(earliest, decode + sample.compositionOffset);
    decode += sample.duration;
  }
  return earliest;
}

/** A single-reference sidx pointing at the rewritten moof + mdat. */
function retimedSidx(sidx: Uint8Array, referencedSize: number, earliestPresentationTime: number, duration: number): Uint8Array {
  const view = dataView(sidx);
  const version = sidx[8]!;
  let p = 8 + 4 + 4 + 4; // full box header, reference_ID, timescale
  if (version === 0) {
    view.setUint32(p, earliestPresentationTime);
    p += 8; // earliest_presentation_time, first_offset
  } else {
    view.setBigUint64(p, BigInt(earliestPresentationTime));
    p += 16;
  }
  p += 4; // reserved, reference_count
  if (view.getUint16(p - 2) !== 1) throw new Error('expected a single-reference sidx');
  view.setUint32(p, (view.getUint32(p) & 0x80000000) | referencedSize);
  view.setUint32(p + 4, duration);
  return sidx;
}

/**
 * Makes an init segment independent of which span produced it: Shaka writes
 * the wall-clock creation time, the span's duration (mehd) and the span's
 * bitrates (btrt); each would make inits of one rendition differ, and a
 * rendition must have exactly one. Times are zeroed, mehd holds the whole
 * presentation's duration, btrt the rendition's declared rates, and edit
 * lists are dropped: fragments carry their presentation times themselves
 * (see retimeVideoFragment), and an edit list is what some players ignore.
 */
export function canonicalizeInit(init: Uint8Array, options: { durationTicks: number; maxBitrate: number; avgBitrate: number }): Uint8Array {
  const out = withoutEditLists(init);
  const view = dataView(out);
  const zeroTimes = (box: Box) => {
    const version = out[box.payload]!;
    const width = version === 1 ? 8 : 4;
    out.fill(0, box.payload + 4, box.payload + 4 + 2 * width);
  };
  for (const box of [...findBoxes(out, ['moov', 'mvhd']), ...findBoxes(out, ['moov', 'trak', 'tkhd']), ...findBoxes(out, ['moov', 'trak', 'mdia', 'mdhd'])]) {
    zeroTimes(box);
  }
  // The movie and track durations of an fMP4 init are zero by convention; only mehd carries one.
  for (const mehd of findBoxes(out, ['moov', 'mvex', 'mehd'])) {
    if (out[mehd.payload] === 1) view.setBigUint64(mehd.payload + 4, BigInt(options.durationTicks));
    else view.setUint32(mehd.payload + 4, options.durationTicks);
  }
  for (const btrt of findAll(out, 'btrt')) {
    view.setUint32(btrt.payload, 0);
    view.setUint32(btrt.payload + 4, options.maxBitrate);
    view.setUint32(btrt.payload + 8, options.avgBitrate);
  }
  return out;
}

/** A copy of an init segment without moov/trak/edts boxes (the moov and trak sizes shrink with them). */
function withoutEditLists(init: Uint8Array): Uint8Array {
  if (findBoxes(init, ['moov', 'trak', 'edts']).length === 0) return Uint8Array.from(init);
  const rebuild = (start: number, end: number, path: string): Uint8Array[] =>
    readBoxes(init, start, end).flatMap((b) => {
      if (path === 'moov/trak' && b.type === 'edts') return [];
      if ((path === '' && b.type === 'moov') || (path === 'moov' && b.type === 'trak')) {
        return [box(b.type, ...rebuild(b.payload, b.end, path ? `${path}/${b.type}` : b.type))];
      }
      return [init.subarray(b.start, b.end)];
    });
  return Uint8Array.from(Buffer.concat(rebuild(0, init.length, '')));
}

/** Finds every box of a type anywhere (sample entries nest boxes after fixed fields, so a byte scan is used). */
function findAll(bytes: Uint8Array, type: string): Box[] {
  const found: Box[] = [];
  const view = dataView(bytes);
  const code = [...type].map((c) => c.charCodeAt(0));
  for (let i = 4; i + 4 <= bytes.length; i++) {
    if (bytes[i] === code[0] && bytes[i + 1] === code[1] && bytes[i + 2] === code[2] && bytes[i + 3] === code[3]) {
      const size = view.getUint32(i - 4);
      if (size >= 8 && i - 4 + size <= bytes.length) found.push({ type, start: i - 4, payload: i + 4, end: i - 4 + size });
    }
  }
  return found;
}

/** RFC 6381 codec string from an init segment's avcC ("avc1.64001f"), or undefined. */
export function avcCodecString(init: Uint8Array): string | undefined {
  const avcC = findAll(init, 'avcC')[0];
  if (!avcC) return undefined;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `avc1.${hex(init[avcC.payload + 1]!)}${hex(init[avcC.payload + 2]!)}${hex(init[avcC.payload + 3]!)}`;
}

/**
 * ISO/IEC 14496-15 (Annex E) codec string from an init segment's hvcC
 * ("hvc1.2.4.L93.90"): profile space and idc, the compatibility flags
 * bit-reversed in hex, tier and level, and the constraint bytes without
 * trailing zero bytes.
 */
export function hvcCodecString(init: Uint8Array): string | undefined {
  const hvcC = findAll(init, 'hvcC')[0];
  if (!hvcC || hvcC.payload + 13 > init.length) return undefined;
  const at = (i: number) => init[hvcC.payload + i]!;
  const space = ['', 'A', 'B', 'C'][at(1) >> 6]!;
  const tier = (at(1) >> 5) & 1 ? 'H' : 'L';
  let compat = 0;
  for (let bit = 0; bit < 32; bit++) if ((((at(2 + (bit >> 3)) << (bit & 7)) >> 7) & 1) === 1) compat |= 1 << bit;
  const constraints = [6, 7, 8, 9, 10, 11].map(at);
  while (constraints.length > 0 && constraints.at(-1) === 0) constraints.pop();
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `hvc1.${space}${at(1) & 0x1f}.${(compat >>> 0).toString(16).toUpperCase()}.${tier}${at(12)}${constraints.length > 0 ? `.${constraints.map(hex).join('').toUpperCase()}` : ''}`;
}

/** The track timescale from an init segment's mdhd. */
export function initTimescale(init: Uint8Array): number {
  const mdhd = findBoxes(init, ['moov', 'trak', 'mdia', 'mdhd'])[0];
  if (!mdhd) throw new Error('init segment has no mdhd');
  const version = init[mdhd.payload]!;
  return dataView(init).getUint32(mdhd.payload + (version === 1 ? 20 : 12));
}
