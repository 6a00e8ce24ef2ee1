/**
 * The few ISO-BMFF (fMP4/CMAF) box edits and reads the pipeline needs after
 * Shaka Packager: renumbering fragments, making one canonical init segment per
 * rendition, and checking a segment before it is stored. All edits keep box
 * sizes, so they are in-place writes into a copy of the bytes.
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

/** Reads what validation needs from a media segment's moof boxes. */
export function summarizeFragment(segment: Uint8Array): FragmentSummary {
  const view = dataView(segment);
  const trafs = findBoxes(segment, ['moof', 'traf']);
  if (trafs.length === 0) throw new Error('segment has no moof/traf');
  let sampleCount = 0;
  let duration = 0;
  let baseMediaDecodeTime: number | undefined;
  let startsWithSync: boolean | undefined;
  for (const traf of trafs) {
    const tfhd = findBoxes(segment, ['tfhd'], traf.payload, traf.end)[0];
    const tfdt = findBoxes(segment, ['tfdt'], traf.payload, traf.end)[0];
    if (!tfhd || !tfdt) throw new Error('traf lacks tfhd or tfdt');
    const tfhdFlags = view.getUint32(tfhd.payload) & 0xffffff;
    let cursor = tfhd.payload + 8;
    if (tfhdFlags & TFHD_BASE_DATA_OFFSET) cursor += 8;
    if (tfhdFlags & TFHD_SAMPLE_DESCRIPTION) cursor += 4;
    const defaultDuration = tfhdFlags & TFHD_DEFAULT_DURATION ? view.getUint32(cursor) : 0;
    if (tfhdFlags & TFHD_DEFAULT_DURATION) cursor += 4;
    if (tfhdFlags & TFHD_DEFAULT_SIZE) cursor += 4;
    const defaultFlags = tfhdFlags & TFHD_DEFAULT_FLAGS ? view.getUint32(cursor) : 0;
    const tfdtVersion = segment[tfdt.payload]!;
    baseMediaDecodeTime ??= tfdtVersion === 1 ? Number(view.getBigUint64(tfdt.payload + 4)) : view.getUint32(tfdt.payload + 4);
    for (const trun of findBoxes(segment, ['trun'], traf.payload, traf.end)) {
      const flags = view.getUint32(trun.payload) & 0xffffff;
      const count = view.getUint32(trun.payload + 4);
      let p = trun.payload + 8;
      if (flags & TRUN_DATA_OFFSET) p += 4;
      const firstSampleFlags = flags & TRUN_FIRST_SAMPLE_FLAGS ? view.getUint32(p) : undefined;
      if (flags & TRUN_FIRST_SAMPLE_FLAGS) p += 4;
      for (let i = 0; i < count; i++) {
        duration += flags & TRUN_DURATION ? view.getUint32(p) : defaultDuration;
        if (flags & TRUN_DURATION) p += 4;
        if (flags & TRUN_SIZE) p += 4;
        let sampleFlags = i === 0 && firstSampleFlags !== undefined ? firstSampleFlags : defaultFlags;
        if (flags & TRUN_FLAGS) {
          sampleFlags = view.getUint32(p);
          p += 4;
        }
        if (flags & TRUN_CTS) p += 4;
        if (startsWithSync === undefined) startsWithSync = (sampleFlags & SAMPLE_IS_NON_SYNC) === 0;
      }
      sampleCount += count;
    }
  }
  return { sampleCount, baseMediaDecodeTime: baseMediaDecodeTime ?? 0, duration, startsWithSync: startsWithSync ?? false };
}

/**
 * Makes an init segment independent of which span produced it: Shaka writes
 * the wall-clock creation time, the span's duration (mehd) and the span's
 * bitrates (btrt); each would make inits of one rendition differ, and a
 * rendition must have exactly one. Times are zeroed, mehd holds the whole
 * presentation's duration, btrt the rendition's declared rates.
 */
export function canonicalizeInit(init: Uint8Array, options: { durationTicks: number; maxBitrate: number; avgBitrate: number }): Uint8Array {
  const out = Uint8Array.from(init);
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

/** The track timescale from an init segment's mdhd. */
export function initTimescale(init: Uint8Array): number {
  const mdhd = findBoxes(init, ['moov', 'trak', 'mdia', 'mdhd'])[0];
  if (!mdhd) throw new Error('init segment has no mdhd');
  const version = init[mdhd.payload]!;
  return dataView(init).getUint32(mdhd.payload + (version === 1 ? 20 : 12));
}
