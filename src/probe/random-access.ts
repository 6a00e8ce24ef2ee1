/**
 * Which of a source's keyframes are clean cut points.
 *
 * Containers flag every random-access picture as a keyframe, including the
 * I-frames of open GOPs (H.264 recovery-point I-slices, HEVC CRA pictures):
 * the frames that follow them in decode order may reference the GOP before.
 * Only IDR pictures (and HEVC BLA, whose leading pictures are dropped) start
 * a closed GOP, so only they become cut points. These functions read NAL unit
 * headers, never decode.
 */

export type NalCodec = 'h264' | 'hevc';

export function nalCodecOf(codec: string): NalCodec | undefined {
  return codec === 'h264' || codec === 'hevc' ? codec : undefined;
}

/** NAL unit type from the first header byte. */
export function nalType(codec: NalCodec, headerByte: number): number {
  return codec === 'h264' ? headerByte & 0x1f : (headerByte >> 1) & 0x3f;
}

const NAL_HEADER_BYTES: Record<NalCodec, number> = { h264: 1, hevc: 2 };

/** A NAL unit that carries picture data (a slice). */
export function isVcl(codec: NalCodec, type: number): boolean {
  return codec === 'h264' ? type >= 1 && type <= 5 : type <= 31;
}

/** H.264 IDR (5); HEVC IDR_W_RADL/IDR_N_LP (19, 20) and BLA (16–18). Not HEVC CRA (21). */
export function isClosedGopStart(codec: NalCodec, type: number): boolean {
  return codec === 'h264' ? type === 5 : type >= 16 && type <= 20;
}

/** Access unit delimiter: H.264 type 9, HEVC type 35. */
function isAccessUnitDelimiter(codec: NalCodec, type: number): boolean {
  return codec === 'h264' ? type === 9 : type === 35;
}

/**
 * The verdict for one length-prefixed sample (MP4/MKV layout): true when its
 * first VCL NAL unit starts a closed GOP, false when it does not, or the file
 * position of the next NAL unit to look at when `bytes` (read at `position`)
 * ends before a VCL NAL unit does. `sampleEnd` bounds the walk.
 */
export function classifyLengthPrefixedSample(
  codec: NalCodec,
  lengthSize: number,
  bytes: Uint8Array,
  position: number,
  sampleEnd: number,
): boolean | number {
  let p = 0;
  while (position + p < sampleEnd) {
    if (p + lengthSize + 1 > bytes.length) return position + p;
    let length = 0;
    for (let i = 0; i < lengthSize; i++) length = length * 256 + bytes[p + i]!;
    if (length === 0) return false; // malformed: not a clean cut point
    const type = nalType(codec, bytes[p + lengthSize]!);
    if (isVcl(codec, type)) return isClosedGopStart(codec, type);
    p += lengthSize + length;
  }
  return false; // no picture in this sample
}

/**
 * One verdict per picture in an Annex B elementary stream made of keyframe
 * packets only, fed in chunks of any size (it can be hundreds of megabytes).
 * A picture is counted at its access unit delimiter when the stream has them
 * (interlaced field pairs then count once), else at its first slice
 * (first_mb_in_slice = 0, or HEVC's first_slice_segment_in_pic_flag).
 */
export class AnnexBPictureScanner {
  private readonly byDelimiter: boolean[] = [];
  private readonly byFirstSlice: boolean[] = [];
  private awaitingVcl = false;
  private carry: Buffer = Buffer.alloc(0);
  private readonly headerBytes: number;

  constructor(private readonly codec: NalCodec) {
    this.headerBytes = NAL_HEADER_BYTES[codec];
  }

  push(chunk: Uint8Array): void {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let from = 0;
    for (;;) {
      const at = data.indexOf(START_CODE, from);
      // Keep what may hold an unfinished start code or NAL header for the next chunk.
      if (at < 0) {
        from = Math.max(from, data.length - (START_CODE.length - 1));
        break;
      }
      const nal = at + START_CODE.length;
      if (nal + this.headerBytes >= data.length) {
        from = at;
        break;
      }
      this.onNal(data[nal]!, data[nal + this.headerBytes]!);
      from = nal;
    }
    this.carry = Buffer.from(data.subarray(from));
  }

  /** The verdicts, from the delimiting that gives `expectedPictures` pictures; undefined when neither does. */
  verdicts(expectedPictures: number): boolean[] | undefined {
    if (this.byDelimiter.length === expectedPictures) return this.byDelimiter;
    if (this.byFirstSlice.length === expectedPictures) return this.byFirstSlice;
    return undefined;
  }

  private onNal(headerByte: number, firstPayloadByte: number): void {
    const type = nalType(this.codec, headerByte);
    if (isAccessUnitDelimiter(this.codec, type)) {
      this.awaitingVcl = true;
      return;
    }
    if (!isVcl(this.codec, type)) return;
    const clean = isClosedGopStart(this.codec, type);
    if (this.awaitingVcl) {
      this.byDelimiter.push(clean);
      this.awaitingVcl = false;
    }
    if ((firstPayloadByte & 0x80) !== 0) this.byFirstSlice.push(clean);
  }
}

const START_CODE = Buffer.from([0, 0, 1]);
