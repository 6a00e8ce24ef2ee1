/**
 * EBML (Matroska's binary layout) element headers, read from a buffer: an
 * element is an ID (a variable-length integer whose marker bit is kept), a
 * size (a variable-length integer without its marker; all ones = unknown)
 * and its data. Only what the video scan (video-scan.ts) needs.
 */

export const UNKNOWN_SIZE = -1;

export interface ElementHeader {
  id: number;
  /** Data size in bytes, or UNKNOWN_SIZE. */
  size: number;
  /** Bytes taken by the ID and the size. */
  headerLength: number;
}

/** Length of a variable-length integer from its first byte (1–8), 0 when the byte is 0 (invalid). */
function vintLength(first: number): number {
  return first === 0 ? 0 : Math.clz32(first) - 23;
}

/**
 * The element header at `p` (undefined when `b` ends before it does, or it is
 * malformed), written into `into` when given (hot loops reuse one object).
 */
export function readElementHeader(b: Uint8Array, p: number, end = b.length, into?: ElementHeader): ElementHeader | undefined {
  if (p >= end) return undefined;
  const idLength = vintLength(b[p]!);
  if (idLength === 0 || idLength > 4 || p + idLength >= end) return undefined;
  let id = 0;
  for (let i = 0; i < idLength; i++) id = id * 256 + b[p + i]!;
  const q = p + idLength;
  const sizeLength = vintLength(b[q]!);
  if (sizeLength === 0 || q + sizeLength > end) return undefined;
  let size = b[q]! & (0xff >> sizeLength);
  let allOnes = size === 0xff >> sizeLength;
  for (let i = 1; i < sizeLength; i++) {
    const byte = b[q + i]!;
    allOnes &&= byte === 0xff;
    size = size * 256 + byte;
  }
  const header = into ?? { id: 0, size: 0, headerLength: 0 };
  header.id = id;
  header.size = allOnes ? UNKNOWN_SIZE : size;
  header.headerLength = idLength + sizeLength;
  return header;
}

/** A variable-length integer without its marker (a size, a block's track number); all ones = UNKNOWN_SIZE. */
export function readVint(b: Uint8Array, p: number, end = b.length): { value: number; length: number } | undefined {
  if (p >= end) return undefined;
  const length = vintLength(b[p]!);
  if (length === 0 || p + length > end) return undefined;
  let value = b[p]! & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i++) {
    const byte = b[p + i]!;
    allOnes &&= byte === 0xff;
    value = value * 256 + byte;
  }
  return { value: allOnes ? UNKNOWN_SIZE : value, length };
}

/** An unsigned integer element's data (0–8 bytes, big-endian). */
export function readUint(b: Uint8Array, p: number, size: number): number {
  let value = 0;
  for (let i = 0; i < size; i++) value = value * 256 + b[p + i]!;
  return value;
}

/** A float element's data (4 or 8 bytes; 0 bytes is 0). */
export function readFloat(b: Uint8Array, p: number, size: number): number {
  const view = new DataView(b.buffer, b.byteOffset + p, size);
  return size === 4 ? view.getFloat32(0) : size === 8 ? view.getFloat64(0) : 0;
}

/** Matroska element IDs used by the video scan. */
export const ID = {
  EBML: 0x1a45dfa3,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimestampScale: 0x2ad7b1,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  CodecID: 0x86,
  CodecPrivate: 0x63a2,
  DefaultDuration: 0x23e383,
  TrackTimestampScale: 0x23314f,
  CodecDelay: 0x56aa,
  ContentEncodings: 0x6d80,
  Video: 0xe0,
  PixelWidth: 0xb0,
  PixelHeight: 0xba,
  Cluster: 0x1f43b675,
  Timestamp: 0xe7,
  SimpleBlock: 0xa3,
  BlockGroup: 0xa0,
  Block: 0xa1,
  BlockDuration: 0x9b,
  ReferenceBlock: 0xfb,
} as const;
