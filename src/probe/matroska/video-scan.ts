/**
 * One pass over a Matroska file for its H.264/HEVC video track's packets:
 * every block's time and keyframe flag as ffmpeg's matroska demuxer (FFmpeg
 * 5.1) reports them (pts = cluster Timestamp + the block's relative time;
 * key = SimpleBlock flag 0x80, or a BlockGroup without ReferenceBlock;
 * duration = BlockDuration, else DefaultDuration / TimestampScale rounded
 * down), and whether each keyframe's first slice starts a closed GOP. It
 * replaces two whole-file reads (ffprobe's packet scan, an ffmpeg copy of the
 * keyframes to a pipe) with one read of the file in 8 MB pieces (file-window.ts).
 *
 * It only answers when it is sure to agree with ffmpeg; anything it does not
 * model (laced or compressed video blocks, a track time scale, a codec delay,
 * unknown-size elements, an element past the file's end (a cut-off file), no
 * avcC/hvcC, a block before its cluster's time, a
 * last frame with no duration, an IDR picture the container does not flag as
 * a keyframe) makes it return undefined, and so does a first video track
 * that is not the stream ffprobe chose (sameTrack): the caller then runs the
 * two ffprobe/ffmpeg scans instead.
 */
import { open } from 'node:fs/promises';
import { ProbeError } from '../errors.js';
import { PROBE_BUDGET } from '../limits.js';
import { PacketScan } from '../packet-scan.js';
import { classifyLengthPrefixedSample, isClosedGopStart, isVcl, nalType } from '../random-access.js';
import { FileWindow } from './file-window.js';
import { ID, readElementHeader, readUint, readVint, UNKNOWN_SIZE, type ElementHeader } from './ebml.js';
import { nalCodecOfMatroska, nalLengthSize, timestampScaleOf, videoTracksOf, type MatroskaVideoTrack } from './tracks.js';

/** What ffprobe said of the stream (the scan must have read the same track). */
export interface ExpectedVideo {
  /** Index among ffprobe's video streams that are not attached pictures. */
  ordinal: number;
  /** How many such streams ffprobe lists. */
  count: number;
  codec: string;
  width: number;
  height: number;
  /** ffprobe's time_base of the stream (TimestampScale / 10^9, reduced). */
  timeBase: { num: number; den: number };
}

/** The track the scan read: the file's first video track. */
export interface ScannedTrack {
  /** Video tracks in the file. */
  videoTracks: number;
  codec: 'h264' | 'hevc';
  width: number;
  height: number;
  timeBase: { num: number; den: number };
}

export interface MatroskaVideoScan {
  track: ScannedTrack;
  packets: PacketScan;
  /** Per keyframe packet in file order: whether its first slice starts a closed GOP. */
  verdicts: boolean[];
}

/** Elements larger than this are not read whole (the scan gives up instead). */
const MAX_ELEMENT_BYTES = 256 * 1024 * 1024;

/**
 * The scan of the file's first video track, undefined when the file is not
 * Matroska or the scan cannot be sure (see above). It needs nothing from
 * ffprobe, so it can run beside it; the caller uses it only when
 * sameTrack(scan, what ffprobe says) holds. `deadline`: Date.now() value past
 * which the file is refused as the probe's tools would refuse it;
 * `abandoned`: polled between clusters (then the scan stops, undefined).
 */
export async function scanMatroskaVideo(path: string, deadline: number, abandoned: () => boolean = () => false): Promise<MatroskaVideoScan | undefined> {
  const fh = await open(path, 'r');
  try {
    return await scanMatroskaBytes(new FileWindow(fh, (await fh.stat()).size), deadline, abandoned);
  } finally {
    await fh.close();
  }
}

/** Where the scan reads (a file: FileWindow). */
export interface ByteSource {
  readonly fileSize: number;
  /** The bytes [at, at + size), fewer when the source ends first; valid until the next call. */
  bytes(at: number, size: number): Promise<Uint8Array>;
}

/** Whether the scan read the stream ffprobe chose (Matroska streams are numbered in track order, attachments after them). */
export function sameTrack(scan: MatroskaVideoScan, expected: ExpectedVideo): boolean {
  const { track } = scan;
  return (
    expected.ordinal === 0 &&
    expected.count === track.videoTracks &&
    expected.codec === track.codec &&
    expected.width === track.width &&
    expected.height === track.height &&
    expected.timeBase.num === track.timeBase.num &&
    expected.timeBase.den === track.timeBase.den
  );
}

class Unsupported extends Error {}

/** scanMatroskaVideo on any source of bytes. */
export async function scanMatroskaBytes(file: ByteSource, deadline: number, abandoned: () => boolean = () => false): Promise<MatroskaVideoScan | undefined> {
  const { fileSize } = file;
  const readHeader = async (at: number): Promise<ElementHeader | undefined> => readElementHeader(await file.bytes(at, 12), 0);
  let p = 0;
  const ebml = await readHeader(p);
  if (ebml?.id !== ID.EBML || ebml.size === UNKNOWN_SIZE) return undefined;
  p += ebml.headerLength + ebml.size;
  const segment = await readHeader(p);
  if (segment?.id !== ID.Segment) return undefined;
  p += segment.headerLength;
  const segmentEnd = segment.size === UNKNOWN_SIZE ? fileSize : Math.min(fileSize, p + segment.size);
  const readWhole = async (at: number, size: number): Promise<Uint8Array> => {
    if (size > MAX_ELEMENT_BYTES || at + size > fileSize) throw new Unsupported();
    return file.bytes(at, size);
  };

  let scale: number | undefined;
  let scan: ClusterScan | undefined;
  try {
    while (p < segmentEnd) {
      const h = await readHeader(p);
      const data = p + (h?.headerLength ?? 0);
      // An element past the segment's (or the file's) end: the file is cut off or damaged, for ffmpeg's resync to judge.
      if (!h || h.size === UNKNOWN_SIZE || data + h.size > segmentEnd) return undefined;
      if (h.id === ID.Info && scale === undefined) scale = timestampScaleOf(await readWhole(data, h.size));
      else if (h.id === ID.Tracks && !scan) scan = clusterScanFor(videoTracksOf(await readWhole(data, h.size)), scale);
      else if (h.id === ID.Cluster) {
        if (!scan || abandoned()) return undefined;
        scan.cluster(await readWhole(data, h.size));
        if (Date.now() > deadline) {
          throw new ProbeError('impossible', `Matroska scan: reading the file took longer than the ${PROBE_BUDGET.timeMs / 1000} s probe budget`);
        }
      }
      p = data + h.size;
    }
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
  return scan?.result();
}

/** The scan of the first video track, when it is one the scan reads exactly. */
function clusterScanFor(tracks: MatroskaVideoTrack[] | undefined, scale: number | undefined): ClusterScan {
  const track = tracks?.[0];
  if (!tracks || !track || scale === undefined || track.unusual) throw new Unsupported();
  const codec = nalCodecOfMatroska(track.codecId);
  const lengthSize = codec && nalLengthSize(codec, track.codecPrivate);
  if (!codec || lengthSize === undefined) throw new Unsupported();
  // ffmpeg's time_base: TimestampScale / 10^9, reduced; its ticks are the file's.
  const divisor = gcd(scale, 1e9);
  const timeBase = { num: scale / divisor, den: 1e9 / divisor };
  // matroskadec: block_duration = default_duration * laces / time_scale (integers).
  const defaultDuration = Math.floor(track.defaultDuration / scale);
  return new ClusterScan({ videoTracks: tracks.length, codec, width: track.width, height: track.height, timeBase }, track.number, lengthSize, defaultDuration);
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

class ClusterScan {
  readonly packets: PacketScan;
  readonly verdicts: boolean[] = [];
  private clusterTime = -1;

  private readonly codec: 'h264' | 'hevc';

  constructor(
    private readonly track: ScannedTrack,
    private readonly trackNumber: number,
    private readonly lengthSize: number,
    private readonly defaultDuration: number,
  ) {
    this.codec = track.codec;
    this.packets = new PacketScan(track.timeBase.num);
  }

  private readonly header: ElementHeader = { id: 0, size: 0, headerLength: 0 };

  cluster(b: Uint8Array): void {
    this.clusterTime = -1;
    let p = 0;
    while (p < b.length) {
      const h = readElementHeader(b, p, b.length, this.header);
      if (!h || h.size === UNKNOWN_SIZE || p + h.headerLength + h.size > b.length) throw new Unsupported();
      const data = p + h.headerLength;
      const end = data + h.size;
      if (h.id === ID.Timestamp) this.clusterTime = readUint(b, data, h.size);
      else if (h.id === ID.SimpleBlock) this.block(b, data, end, undefined, 0);
      else if (h.id === ID.BlockGroup) this.blockGroup(b, data, end);
      p = end;
    }
  }

  private readonly groupHeader: ElementHeader = { id: 0, size: 0, headerLength: 0 };

  private blockGroup(b: Uint8Array, from: number, to: number): void {
    let block: [number, number] | undefined;
    let referenced = false;
    let duration = 0;
    for (let p = from; p < to; ) {
      const h = readElementHeader(b, p, to, this.groupHeader);
      if (!h || h.size === UNKNOWN_SIZE || p + h.headerLength + h.size > to) throw new Unsupported();
      const data = p + h.headerLength;
      if (h.id === ID.Block) block = [data, data + h.size];
      else if (h.id === ID.ReferenceBlock) referenced = true;
      else if (h.id === ID.BlockDuration) duration = readUint(b, data, h.size);
      p = data + h.size;
    }
    if (block) this.block(b, block[0], block[1], !referenced, duration);
  }

  /** One block; `key` undefined: a SimpleBlock's own flag. */
  private block(b: Uint8Array, from: number, to: number, key: boolean | undefined, blockDuration: number): void {
    // The track number: a variable-length integer (a track past 127 takes two bytes or more).
    const first = b[from]!;
    let head: number;
    if (first & 0x80) {
      if ((first & 0x7f) !== this.trackNumber) return;
      head = from + 1;
    } else {
      const track = readVint(b, from, to);
      if (!track || track.value !== this.trackNumber) return;
      head = from + track.length;
    }
    if (head + 3 > to) throw new Unsupported();
    const relative = (((b[head]! << 8) | b[head + 1]!) << 16) >> 16;
    const flags = b[head + 2]!;
    if ((flags & 0x06) !== 0 || this.clusterTime < 0 || this.clusterTime + relative < 0) throw new Unsupported();
    const isKey = key ?? (flags & 0x80) !== 0;
    const start = head + 3;
    const closed = this.startsClosedGop(b, start, to);
    // ffmpeg's parser would flag an unflagged IDR as a keyframe; the two-scan path judges such a file.
    if (closed && !isKey) throw new Unsupported();
    if (isKey) this.verdicts.push(closed);
    this.packets.add(this.clusterTime + relative, isKey, blockDuration || this.defaultDuration);
  }

  /** classifyLengthPrefixedSample's verdict, without a view of the block when its first NAL unit is a slice (most blocks). */
  private startsClosedGop(b: Uint8Array, start: number, end: number): boolean {
    const n = this.lengthSize;
    if (start + n < end) {
      let length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + b[start + i]!;
      if (length === 0) return false;
      const type = nalType(this.codec, b[start + n]!);
      if (isVcl(this.codec, type)) return isClosedGopStart(this.codec, type);
    }
    return classifyLengthPrefixedSample(this.codec, n, b.subarray(start, end), start, end) === true;
  }

  result(): MatroskaVideoScan | undefined {
    // ffprobe works out a duration for a last frame without one; the scan does not guess it.
    if (this.packets.packets > 0 && this.packets.lastDuration === undefined) return undefined;
    return { track: this.track, packets: this.packets, verdicts: this.verdicts };
  }
}
