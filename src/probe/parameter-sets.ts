/**
 * The picture size a decoder really produces, from the H.264 or HEVC
 * sequence parameter set (cropping applied). A container's width and height
 * are only a claim: a 64×64 stream may sit in a box that says 16384×16384,
 * and ffmpeg decodes (and the ladder must follow) what the SPS says.
 */
import type { NalCodec } from './random-access.js';

export interface PictureSize {
  width: number;
  height: number;
}

/** Reads bits MSB first, Exp-Golomb included; throws RangeError past the end. */
class BitReader {
  private bit = 0;
  constructor(private readonly bytes: Uint8Array) {}

  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++, this.bit++) {
      const byte = this.bytes[this.bit >> 3];
      if (byte === undefined) throw new RangeError('parameter set ends early');
      v = v * 2 + ((byte >> (7 - (this.bit & 7))) & 1);
    }
    return v;
  }

  skip(n: number): void {
    this.u(n);
  }

  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) if (++zeros > 31) throw new RangeError('Exp-Golomb code too long');
    return 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -k / 2;
  }
}

/** The NAL unit's payload with emulation prevention bytes (00 00 03) removed. */
function rbsp(nal: Uint8Array, headerBytes: number): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (let i = headerBytes; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** Chroma subsampling factors (SubWidthC, SubHeightC); 1×1 for 4:4:4 and monochrome. */
function chromaSubsampling(chromaFormatIdc: number, separatePlanes: boolean): [number, number] {
  if (separatePlanes || chromaFormatIdc === 0 || chromaFormatIdc === 3) return [1, 1];
  return chromaFormatIdc === 1 ? [2, 2] : [2, 1];
}

const H264_HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function skipH264ScalingLists(r: BitReader, count: number): void {
  for (let i = 0; i < count; i++) {
    if (!r.u(1)) continue;
    const size = i < 6 ? 16 : 64;
    let last = 8;
    let next = 8;
    for (let j = 0; j < size && next !== 0; j++) {
      next = (last + r.se() + 256) % 256;
      last = next === 0 ? last : next;
    }
  }
}

/** H.264 seq_parameter_set_rbsp (7.3.2.1.1) up to the frame cropping. */
export function h264SpsSize(nal: Uint8Array): PictureSize {
  const r = new BitReader(rbsp(nal, 1));
  const profile = r.u(8);
  r.skip(16); // constraint flags, level_idc
  r.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let separatePlanes = false;
  if (H264_HIGH_PROFILES.has(profile)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separatePlanes = r.u(1) === 1;
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.skip(1); // qpprime_y_zero_transform_bypass_flag
    if (r.u(1)) skipH264ScalingLists(r, chromaFormatIdc === 3 ? 12 : 8);
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.skip(1);
    r.se();
    r.se();
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.skip(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.u(1);
  if (!frameMbsOnly) r.skip(1); // mb_adaptive_frame_field_flag
  r.skip(1); // direct_8x8_inference_flag
  let [left, right, top, bottom] = [0, 0, 0, 0];
  if (r.u(1)) [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const [subWidth, subHeight] = chromaSubsampling(chromaFormatIdc, separatePlanes);
  const cropX = subWidth;
  const cropY = subHeight * (2 - frameMbsOnly);
  return {
    width: widthMbs * 16 - cropX * (left + right),
    height: (2 - frameMbsOnly) * heightMapUnits * 16 - cropY * (top + bottom),
  };
}

/** HEVC profile_tier_level (7.3.3): skipped, it holds no size. */
function skipHevcProfileTierLevel(r: BitReader, maxSubLayersMinus1: number): void {
  r.skip(96); // general profile (88 bits) and level_idc
  const subProfile: boolean[] = [];
  const subLevel: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    subProfile.push(r.u(1) === 1);
    subLevel.push(r.u(1) === 1);
  }
  if (maxSubLayersMinus1 > 0) for (let i = maxSubLayersMinus1; i < 8; i++) r.skip(2);
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (subProfile[i]) r.skip(88);
    if (subLevel[i]) r.skip(8);
  }
}

/** HEVC seq_parameter_set_rbsp (7.3.2.2) up to the conformance window. */
export function hevcSpsSize(nal: Uint8Array): PictureSize {
  const r = new BitReader(rbsp(nal, 2));
  r.skip(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.u(3);
  r.skip(1); // sps_temporal_id_nesting_flag
  skipHevcProfileTierLevel(r, maxSubLayersMinus1);
  r.ue(); // sps_seq_parameter_set_id
  const chromaFormatIdc = r.ue();
  const separatePlanes = chromaFormatIdc === 3 && r.u(1) === 1;
  const width = r.ue();
  const height = r.ue();
  let [left, right, top, bottom] = [0, 0, 0, 0];
  if (r.u(1)) [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const [subWidth, subHeight] = chromaSubsampling(chromaFormatIdc, separatePlanes);
  return { width: width - subWidth * (left + right), height: height - subHeight * (top + bottom) };
}

/** The first SPS in an avcC (ISO 14496-15 5.3.3.1) or hvcC (8.3.3.1) record, undefined when there is none. */
export function spsFromDecoderConfig(codec: NalCodec, record: Uint8Array): Uint8Array | undefined {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  if (codec === 'h264') {
    if (record.length < 8 || (record[5]! & 0x1f) === 0) return undefined;
    const length = view.getUint16(6);
    return 8 + length <= record.length ? record.subarray(8, 8 + length) : undefined;
  }
  if (record.length < 23) return undefined;
  let p = 23;
  for (let a = 0, arrays = record[22]!; a < arrays && p + 3 <= record.length; a++) {
    const type = record[p]! & 0x3f;
    const count = view.getUint16(p + 1);
    p += 3;
    for (let i = 0; i < count && p + 2 <= record.length; i++) {
      const length = view.getUint16(p);
      if (p + 2 + length > record.length) return undefined;
      if (type === 33) return record.subarray(p + 2, p + 2 + length);
      p += 2 + length;
    }
  }
  return undefined;
}

/** The decoded picture size from a decoder configuration record; undefined when it holds no readable SPS. */
export function decodedSize(codec: NalCodec, record: Uint8Array): PictureSize | undefined {
  const sps = spsFromDecoderConfig(codec, record);
  if (!sps) return undefined;
  try {
    const size = codec === 'h264' ? h264SpsSize(sps) : hevcSpsSize(sps);
    return size.width > 0 && size.height > 0 ? size : undefined;
  } catch (err) {
    // A truncated or garbled SPS: the caller keeps the container's size, and the limits still apply to it.
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

/** Every parameter set NAL unit of an avcC (SPS, PPS) or hvcC (all arrays: VPS, SPS, PPS, SEI) record. */
export function parameterSetNals(codec: NalCodec, record: Uint8Array): Uint8Array[] {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const out: Uint8Array[] = [];
  const take = (p: number): number => {
    if (p + 2 > record.length) return -1;
    const length = view.getUint16(p);
    if (p + 2 + length > record.length) return -1;
    out.push(record.slice(p + 2, p + 2 + length));
    return p + 2 + length;
  };
  if (codec === 'h264') {
    if (record.length < 6) return out;
    let p = 6;
    for (let i = 0, n = record[5]! & 0x1f; i < n && p >= 0; i++) p = take(p);
    if (p < 0 || p >= record.length) return out;
    const pps = record[p]!;
    p++;
    for (let i = 0; i < pps && p >= 0; i++) p = take(p);
    return out;
  }
  if (record.length < 23) return out;
  let p = 23;
  for (let a = 0, arrays = record[22]!; a < arrays && p >= 0 && p + 3 <= record.length; a++) {
    const count = view.getUint16(p + 1);
    p += 3;
    for (let i = 0; i < count && p >= 0; i++) p = take(p);
  }
  return out;
}
