/**
 * File reads of the MP4 fast path: the head of the file, the top-level box
 * walk (the mdat, which may be many gigabytes, is skipped by its size and
 * never read) and the moov read.
 */
import type { FileHandle } from 'node:fs/promises';
import { PROBE_LIMITS } from '../limits.js';
import { Mp4ProbeUnsupportedError } from './unsupported.js';

/** Refuse to buffer absurd moov boxes (a 24 h 60 fps file has a moov of a few tens of MB). */
export const MAX_MOOV_BYTES = PROBE_LIMITS.maxMoovBytes;

/** Bytes read from the start of the file in one go: the top-level boxes up to the mdat, often a faststart moov whole. */
export const HEAD_BYTES = 64 * 1024;

/** The first HEAD_BYTES of the file (fewer when it is shorter). */
export async function readHead(fh: FileHandle): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(HEAD_BYTES);
  const got = await readAt(fh, buf, 0);
  return buf.subarray(0, got);
}

interface BoxLocation {
  offset: number;
  size: number;
}

interface TopLevel {
  moov?: BoxLocation;
  /** ftyp major brand, undefined when there is no ftyp (old QuickTime files). */
  majorBrand?: string;
}

export async function scanTopLevelBoxes(fh: FileHandle, fileSize: number, head: Buffer): Promise<TopLevel> {
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

export async function readAt(fh: FileHandle, buf: Uint8Array, position: number): Promise<number> {
  const { bytesRead } = await fh.read(buf, 0, buf.length, position);
  return bytesRead;
}

export async function readFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new Mp4ProbeUnsupportedError('unexpected end of file inside moov');
    done += bytesRead;
  }
}

