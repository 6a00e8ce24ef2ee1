import { avcCodecString, hvcCodecString, earliestPresentationTime, findBoxes, initTimescale, readBoxes, readSamples, type Box } from './fmp4.js';

/**
 * The checks a file passes before it is stored or served, whoever made it (an
 * encode here, a peer, or a write a crash may have torn): a media segment must
 * be whole and be the planned one, an init segment must be whole and describe
 * the rendition. Pure: bytes in, the reason they are wrong (or undefined) out.
 */

/** What the plan says one media segment holds. */
export interface FragmentExpectation {
  /** The segment number (mfhd sequence number). */
  sequence: number;
  sampleCount: number;
  /**
   * tfdt of its first sample, in the plan's timescale: the segment's planned
   * start, which is also its earliest presentation time (no edit list shifts it).
   */
  baseMediaDecodeTime: number;
  /** Sum of its sample durations. */
  duration: number;
  /** Video samples are length-prefixed NAL units, whose lengths must add up. */
  video: boolean;
}

/** What a rendition's init segment must declare. */
export interface InitExpectation {
  timescale: number;
  /** RFC 6381 codec string the manifests declare. */
  codecs: string;
  video: boolean;
  /** The picture size (video) or channel count (audio) of the rendition: an init of another rendition declares others. */
  width?: number;
  height?: number;
  channels?: number;
  /** A protected rendition: its sample entry is encv/enca with this scheme and (when known) key id; a clear one's must not be. */
  protection?: { scheme: string; kid?: string };
}

/** The only top-level boxes Shaka Packager writes into a media segment. */
const SEGMENT_BOXES = new Set(['styp', 'sidx', 'moof', 'mdat']);
/** Shaka Packager writes 4-byte NAL unit lengths (checked in every init: avcC lengthSizeMinusOne = 3). */
const NAL_LENGTH_SIZE = 4;

/** Why `bytes` is not the planned media segment, or undefined when it is. */
export function fragmentProblem(bytes: Uint8Array, expected: FragmentExpectation): string | undefined {
  try {
    const top = wholeBoxes(bytes);
    if (typeof top === 'string') return top;
    const stranger = top.find((b) => !SEGMENT_BOXES.has(b.type));
    if (stranger) return `unexpected "${stranger.type}" box in a media segment`;
    const moofs = top.filter((b) => b.type === 'moof');
    const mdats = top.filter((b) => b.type === 'mdat');
    if (moofs.length !== 1 || mdats.length !== 1 || moofs[0]!.end > mdats[0]!.start) return 'expected one moof followed by one mdat';
    const [moof, mdat] = [moofs[0]!, mdats[0]!];
    const mfhd = findBoxes(bytes, ['mfhd'], moof.payload, moof.end)[0];
    const trafs = findBoxes(bytes, ['traf'], moof.payload, moof.end);
    if (!mfhd || trafs.length !== 1) return 'expected one mfhd and one traf';
    const sequence = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(mfhd.payload + 4);
    if (sequence !== expected.sequence) return `sequence number ${sequence}, expected ${expected.sequence}`;
    const fragment = readSamples(bytes, trafs[0]!);
    const { samples } = fragment;
    // The sample sizes must tile the mdat exactly, starting where trun says (from the moof).
    if (fragment.explicitBase || fragment.dataOffset === undefined) return 'samples are not located from the moof';
    const dataBytes = samples.reduce((n, s) => n + s.size, 0);
    if (moof.start + fragment.dataOffset !== mdat.payload || mdat.payload + dataBytes !== mdat.end) {
      return `sample data (${dataBytes} bytes at ${moof.start + fragment.dataOffset}) does not fill the mdat (${mdat.end - mdat.payload} bytes at ${mdat.payload})`;
    }
    const duration = samples.reduce((n, s) => n + s.duration, 0);
    const sync = samples.length > 0 && (samples[0]!.flags & 0x10000) === 0;
    if (samples.length !== expected.sampleCount || fragment.baseMediaDecodeTime !== expected.baseMediaDecodeTime || duration !== expected.duration || !sync) {
      return (
        `not the planned segment: ${samples.length}/${expected.sampleCount} samples, tfdt ${fragment.baseMediaDecodeTime}/${expected.baseMediaDecodeTime}, ` +
        `duration ${duration}/${expected.duration}, sync start ${sync}`
      );
    }
    // Players place a fragment at its earliest presentation time, and no edit list moves it: it must be the planned start.
    const earliest = earliestPresentationTime(fragment);
    if (earliest !== expected.baseMediaDecodeTime) return `earliest presentation time ${earliest}, expected ${expected.baseMediaDecodeTime} (= tfdt)`;
    // FFmpeg presents a fragmented track late by its most negative offset: there is none.
    const negative = samples.findIndex((s) => s.compositionOffset < 0);
    if (negative >= 0) return `sample ${negative} has a negative composition offset`;
    return expected.video ? nalProblem(bytes, mdat.payload, samples) : undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Why `bytes` is not an init segment of the rendition, or undefined when it is. */
export function initProblem(bytes: Uint8Array, expected: InitExpectation): string | undefined {
  try {
    const top = wholeBoxes(bytes);
    if (typeof top === 'string') return top;
    if (top[0]?.type !== 'ftyp' || top.filter((b) => b.type === 'moov').length !== 1 || top.some((b) => b.type === 'moof' || b.type === 'mdat')) {
      return 'expected ftyp and one moov, and no media';
    }
    if (findBoxes(bytes, ['moov', 'trak']).length !== 1 || findBoxes(bytes, ['moov', 'mvex', 'trex']).length !== 1) return 'expected one track and its trex';
    // Fragments carry their own presentation times; an edit list would shift them where some players do not look.
    if (findBoxes(bytes, ['moov', 'trak', 'edts']).length > 0) return 'an edit list (edts) in the init segment';
    const stsd = stsdOf(bytes);
    if (!stsd) return 'no sample description (stsd)';
    const timescale = initTimescale(bytes);
    if (timescale !== expected.timescale) return `timescale ${timescale}, expected ${expected.timescale}`;
    const entry = readBoxes(bytes, stsd.payload + 8, stsd.end)[0];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (!entry) return 'no sample entry';
    const protectionIssue = protectionProblem(bytes, entry, expected);
    if (protectionIssue) return protectionIssue;
    if (expected.video) {
      // H.264, or HEVC for the HDR-keeping rendition: the NAL length size is in avcC's fifth byte, in hvcC's 22nd.
      const hevc = expected.codecs.startsWith('hvc1.');
      const [configBox, lengthByte] = hevc ? ['hvcC', 21] : ['avcC', 4];
      const codecs = hevc ? hvcCodecString(bytes) : avcCodecString(bytes);
      if (codecs !== expected.codecs) return `codec ${codecs}, expected ${expected.codecs}`;
      const config = findBoxes(bytes, [configBox], entry.payload + 78, entry.end)[0];
      if (!config || ((bytes[config.payload + lengthByte] ?? 0) & 3) + 1 !== NAL_LENGTH_SIZE) return `expected ${NAL_LENGTH_SIZE}-byte NAL lengths`;
      // VisualSampleEntry: width and height follow 24 bytes of reserved and pre-defined fields.
      const [width, height] = [view.getUint16(entry.payload + 24), view.getUint16(entry.payload + 26)];
      if (expected.width !== undefined && (width !== expected.width || height !== expected.height)) return `picture ${width}x${height}, expected ${expected.width}x${expected.height}`;
    } else {
      // AudioSampleEntry: the channel count follows 16 bytes of reserved fields.
      const channels = view.getUint16(entry.payload + 16);
      if (expected.channels !== undefined && channels !== expected.channels) return `${channels} channels, expected ${expected.channels}`;
    }
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * Why the sample entry is not what the rendition's protection says: clear
 * renditions have avc1/mp4a; protected ones encv/enca whose sinf names the
 * original format (frma), the scheme (schm) and the key id (tenc). So a
 * clear init is never served under a protected rendition, nor the reverse.
 */
function protectionProblem(bytes: Uint8Array, entry: Box, expected: InitExpectation): string | undefined {
  // avc1, hvc1 (the HDR-keeping rendition) or mp4a: the CODECS string's first part.
  const format = expected.codecs.split('.')[0]!;
  if (!expected.protection) return entry.type === format ? undefined : `sample entry "${entry.type}", expected ${format}`;
  const encrypted = expected.video ? 'encv' : 'enca';
  if (entry.type !== encrypted) return `sample entry "${entry.type}", expected ${encrypted} (protected)`;
  // Sample entries hold fixed fields before their boxes: 78 bytes for video, 28 for audio.
  const sinf = findBoxes(bytes, ['sinf'], entry.payload + (expected.video ? 78 : 28), entry.end)[0];
  if (!sinf) return 'no protection scheme info (sinf)';
  const frma = findBoxes(bytes, ['frma'], sinf.payload, sinf.end)[0];
  const schm = findBoxes(bytes, ['schm'], sinf.payload, sinf.end)[0];
  const schi = findBoxes(bytes, ['schi'], sinf.payload, sinf.end)[0];
  const tenc = schi && findBoxes(bytes, ['tenc'], schi.payload, schi.end)[0];
  if (!frma || !schm || !tenc) return 'sinf lacks frma, schm or tenc';
  const text = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (text(frma.payload) !== format) return `original format "${text(frma.payload)}", expected ${format}`;
  if (text(schm.payload + 4) !== expected.protection.scheme) return `scheme "${text(schm.payload + 4)}", expected ${expected.protection.scheme}`;
  // tenc: full-box header, reserved, pattern, isProtected, per-sample IV size, then the default KID.
  const kid = Buffer.from(bytes.subarray(tenc.payload + 8, tenc.payload + 24)).toString('hex');
  if (expected.protection.kid !== undefined && kid !== expected.protection.kid) return 'the init is encrypted under another key id';
  return undefined;
}

/** Whether two init segments describe the same decoder configuration (their stsd boxes match). */
export function sameSampleDescription(a: Uint8Array, b: Uint8Array): boolean {
  const [x, y] = [stsdOf(a), stsdOf(b)];
  return x !== undefined && y !== undefined && Buffer.from(a.subarray(x.start, x.end)).equals(b.subarray(y.start, y.end));
}

function stsdOf(init: Uint8Array): Box | undefined {
  try {
    return findBoxes(init, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'])[0];
  } catch {
    return undefined; // malformed: describes nothing
  }
}

/** Top-level boxes that cover the file to its last byte, each with an explicit size; or why not. */
function wholeBoxes(bytes: Uint8Array): Box[] | string {
  const top = readBoxes(bytes);
  const end = top.at(-1)?.end ?? 0;
  if (end !== bytes.length) return `${bytes.length - end} stray bytes after the last box`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (top.some((b) => view.getUint32(b.start) === 0)) return 'a box runs "to the end of the file"';
  return top;
}

/** Each video sample must be a run of length-prefixed NAL units that ends exactly at the sample's end. */
function nalProblem(bytes: Uint8Array, dataStart: number, samples: { size: number }[]): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = dataStart;
  for (const [i, sample] of samples.entries()) {
    const end = at + sample.size;
    while (at < end) {
      if (at + NAL_LENGTH_SIZE >= end) return `sample ${i}: a NAL unit header crosses the sample's end`;
      const length = view.getUint32(at);
      at += NAL_LENGTH_SIZE;
      // forbidden_zero_bit must be 0, and the unit must fit in the sample.
      if (length === 0 || at + length > end || (bytes[at]! & 0x80) !== 0) return `sample ${i}: malformed NAL unit`;
      at += length;
    }
  }
  return undefined;
}
