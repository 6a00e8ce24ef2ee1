/**
 * The moov's box tree: the subset of mp4box's parsed boxes we use, and the
 * sample tables we locate (and hide from mp4box) to read them ourselves.
 */
import { ISOFile, MP4BoxBuffer, MultiBufferStream } from 'mp4box';

// mp4box's own typings declare every child box as always present, which it is not; these describe reality.

export interface BoxLike {
  readonly type: string;
  start?: number;
  size: number;
  hdr_size?: number;
  boxes?: BoxLike[];
}
export interface FullBoxLike extends BoxLike {
  version?: number;
  flags?: number;
}
export interface SampleEntryLike extends BoxLike {
  width?: number;
  height?: number;
  channel_count?: number;
  samplerate?: number;
  pasp?: { hSpacing: number; vSpacing: number };
  avcC?: BoxLike & { lengthSizeMinusOne: number };
  hvcC?: BoxLike & { lengthSizeMinusOne: number };
  esds?: EsdsLike;
  wave?: { esds?: EsdsLike; boxes?: BoxLike[] };
  sinf?: { frma?: { data_format?: string } };
  sinfs?: Array<{ frma?: { data_format?: string } }>;
}
export interface DescriptorLike {
  tag?: number;
  oti?: number;
  data?: Uint8Array;
  descs?: DescriptorLike[];
}
export interface EsdsLike {
  esd?: DescriptorLike;
}
export interface StblLike extends BoxLike {
  stsd?: { entries: SampleEntryLike[] };
}
export interface TrakLike extends BoxLike {
  tkhd?: FullBoxLike & { matrix?: ArrayLike<number>; width?: number; height?: number };
  edts?: { elst?: { entries: Array<{ segment_duration: number; media_time: number }> } };
  mdia?: {
    mdhd?: { timescale: number; duration: number; language: number };
    hdlr?: { handler: string };
    minf?: { stbl?: StblLike };
  };
}
export interface MoovLike extends BoxLike {
  mvhd?: { timescale: number; matrix?: ArrayLike<number> };
  mvex?: BoxLike;
  traks?: TrakLike[];
}

/**
 * Parse the box tree. mp4box reports recoverable oddities (e.g. the zero-type
 * terminator atom inside QuickTime 'wave' boxes) with console.error/warn and
 * offers no way to silence its parser; the parse is synchronous, so muting the
 * console just for its duration cannot swallow anybody else's output.
 */
export function parseQuietly(moovBuf: MP4BoxBuffer): ISOFile {
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
export interface BoxRange {
  start: number;
  size: number;
}

/** Sample tables we read ourselves (first occurrence wins). */
const RECORDED_TABLES = ['stts', 'ctts', 'stss', 'stps', 'stsz', 'stz2', 'stsc', 'stco', 'co64'] as const;
type TableName = (typeof RECORDED_TABLES)[number];

/**
 * Raw sample tables of one trak (boxes located in the moov buffer), and its
 * edit list: the last elst, as ffmpeg reads it (a later one replaces an
 * earlier one: "Duplicated ELST atom").
 */
export type SampleTables = { [K in TableName]?: BoxRange } & { sbgp: BoxRange[]; elst?: BoxRange };

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
export function extractSampleTables(view: DataView): Map<number, SampleTables> {
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
      } else if ((path === 'trak' && (type === 'mdia' || type === 'edts')) || (path === 'mdia' && type === 'minf') || (path === 'minf' && type === 'stbl')) {
        walk(p + header, p + size, type, tables);
      } else if (path === 'edts' && type === 'elst' && tables) {
        tables.elst = { start: p, size };
        view.setUint32(p + 4, HIDDEN);
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

export function tablesOf(all: Map<number, SampleTables>, trak: TrakLike): SampleTables {
  return (trak.start !== undefined && all.get(trak.start)) || { sbgp: [] };
}

/** The bytes of a sample entry's avcC or hvcC record (after its box header), undefined when it has none. */
export function decoderConfigRecord(entry: SampleEntryLike, codec: 'h264' | 'hevc', view: DataView): Uint8Array | undefined {
  const config = codec === 'h264' ? entry.avcC : entry.hvcC;
  if (config?.start === undefined || config.hdr_size === undefined) return undefined;
  const from = config.start + config.hdr_size;
  const to = Math.min(config.start + config.size, view.byteLength);
  return from < to ? new Uint8Array(view.buffer, view.byteOffset + from, to - from) : undefined;
}

/**
 * Byte range of a full box's body (after size, type, optional 64-bit size,
 * version and flags) inside the moov buffer.
 */
export function fullBoxPayload(view: DataView, box: BoxRange): { start: number; end: number } | undefined {
  if (box.start + 12 > view.byteLength) return undefined;
  const header = view.getUint32(box.start) === 1 ? 16 : 8;
  const end = Math.min(box.start + box.size, view.byteLength);
  return { start: box.start + header + 4, end };
}

