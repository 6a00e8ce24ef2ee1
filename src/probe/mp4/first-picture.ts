/**
 * The first presented keyframe of an H.264/HEVC track as a standalone
 * Annex B stream (parameter sets, then the sample's NAL units behind start
 * codes): what decode-check.ts hands ffmpeg to prove the pictures decode,
 * without ffmpeg parsing the whole moov (0.4 s for a 2-hour file).
 */
import type { FileHandle } from 'node:fs/promises';
import { ProbeError } from '../errors.js';
import { isVcl, nalType, type NalCodec } from '../random-access.js';
import type { SyncSampleCheck } from './closed-gop.js';
import { readFully } from './file-io.js';
import { Mp4ProbeUnsupportedError } from './unsupported.js';

export interface FirstPicture {
  codec: NalCodec;
  annexB: Uint8Array;
}

/** Larger keyframes are left to the whole-file check (a 16k intra picture stays far below this). */
const MAX_PICTURE_BYTES = 32 * 1024 * 1024;
const START_CODE = Uint8Array.of(0, 0, 0, 1);

export async function readFirstPicture(fh: FileHandle, check: SyncSampleCheck): Promise<FirstPicture | undefined> {
  if (check.parameterSets.length === 0 || check.pts.length === 0) return undefined;
  // The earliest presented (the first of equals, as before).
  let first = 0;
  for (let k = 1; k < check.pts.length; k++) if (check.pts[k]! < check.pts[first]!) first = k;
  const firstSize = check.size[first]!;
  if (firstSize === 0 || firstSize > MAX_PICTURE_BYTES) return undefined;
  const sample = new Uint8Array(firstSize);
  try {
    await readFully(fh, sample, check.offset[first]!);
  } catch (err) {
    // The sample lies past the end of the file: the whole-file check will say what ffmpeg makes of that.
    if (err instanceof Mp4ProbeUnsupportedError) return undefined;
    throw err;
  }
  const parts: Uint8Array[] = [];
  for (const nal of check.parameterSets) parts.push(START_CODE, nal);
  // Length-prefixed NAL units to start codes; a length past the sample's end keeps what is there (the decoder judges it).
  let slices = 0;
  for (let p = 0; p + check.lengthSize < sample.length; ) {
    let length = 0;
    for (let i = 0; i < check.lengthSize; i++) length = length * 256 + sample[p + i]!;
    p += check.lengthSize;
    if (length === 0) break;
    if (isVcl(check.codec, nalType(check.codec, sample[p]!))) slices++;
    parts.push(START_CODE, sample.subarray(p, Math.min(sample.length, p + length)));
    p += length;
  }
  // Not one slice NAL unit, whole or cut short: no decoder makes a picture of that (e.g. noise where the mdat was).
  // Refused here at no cost; the ffmpeg decode of the picture (decode-check.ts) runs later, with the first encode.
  if (slices === 0) throw new ProbeError('impossible', 'its first keyframe holds no picture data (no slice NAL unit): no frame decodes');
  return { codec: check.codec, annexB: Buffer.concat(parts) };
}
