/**
 * Start-up warm-up of a probe worker: the MP4 analysis (mp4box's box parse,
 * the sample tables, ffmpeg's index and edit list, the frame list, the
 * frame runs sent to the main thread) runs a few times on a made-up
 * 30-minute moov, so the first real probe does not run them cold (run cold,
 * the per-frame passes take several times as long on a 2-hour film's
 * 172,000 frames; a real file's other shapes may still cost V8 some
 * compiling on its first probe). The moov is built here (no ffmpeg); its sample entry is
 * a real one (64×64 H.264 from libx264), so the codec path is the usual one. warmMp4ProbeWithFile
 * then probes it as a whole file, to warm what only a file exercises (reads, closed-GOP check).
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MP4BoxBuffer } from 'mp4box';
import { analyzeMoov } from '../mp4.js';
import { probeFileDeferred } from '../probe-file.js';
import { toWire } from '../wire.js';

const ROUNDS = 3;
const FRAMES = 43_200; // 30 min at 24000/1001
const FRAME_TICKS = 1001;
const TIMESCALE = 24_000;
const GOP = 96;
const SAMPLES_PER_CHUNK = 24;
const SAMPLE_BYTES = 100;
/** Where the first chunk starts: after ftyp, a free box and the mdat header (madeUpFile). */
const FIRST_CHUNK_AT = 48;

/** stsd of a 64×64 libx264 stream: avc1 with its avcC (SPS, PPS), pasp and btrt. */
const STSD = Buffer.from(
  '000000b6737473640000000000000001000000a661766331000000000000000100000000000000000000000000000000004000400048000000480000000000000001154c61766335392e33372e313030206c696278323634000000000000000000000018ffff0000002c61766343014d400affe10015674d400aeca2136022000007d2000177001e244b2c01000468ce0fc8000000107061737000000001000000010000001462747274000000000001136900011369',
  'hex',
);

export function warmMp4Probe(): void {
  const moov = madeUpMoov();
  for (let round = 0; round < ROUNDS; round++) {
    const buffer = new MP4BoxBuffer(moov.length);
    buffer.fileStart = 0;
    new Uint8Array(buffer).set(moov);
    toWire(analyzeMoov(buffer, 'isom').probe);
  }
}

/**
 * The same moov as a whole file (samples included), probed end to end as a
 * request would: beyond warmMp4Probe's analysis this runs the file reads, the
 * closed-GOP check of every sync sample, the first picture, the checks and
 * the frame runs, which a first real probe otherwise runs cold (measured on
 * the 2-hour MP4: a worker's first probe cost 65-139 ms of CPU, its fourth
 * 22-29 ms). Writes a 4.3 MB file in the temporary directory and removes it.
 */
export async function warmMp4ProbeWithFile(): Promise<void> {
  const file = join(tmpdir(), `jitseg-probe-warm-up-${process.pid}-${randomBytes(6).toString('hex')}.mp4`);
  try {
    await writeFile(file, madeUpFile());
    for (let round = 0; round < ROUNDS; round++) toWire((await probeFileDeferred(file, Date.now() + 60_000)).probe);
  } finally {
    await rm(file, { force: true });
  }
}

/** FRAMES samples of SAMPLE_BYTES, each one NAL unit (IDR on the sync samples, else a non-IDR slice), then the moov. */
export function madeUpFile(): Buffer {
  const ftyp = box('ftyp', Buffer.from('isom\0\0\x02\0isomiso2avc1mp41', 'latin1'));
  const free = box('free', Buffer.alloc(FIRST_CHUNK_AT - ftyp.length - 8 - 8));
  const samples = Buffer.alloc(FRAMES * SAMPLE_BYTES);
  for (let i = 0; i < FRAMES; i++) {
    samples.writeUInt32BE(SAMPLE_BYTES - 4, i * SAMPLE_BYTES);
    samples[i * SAMPLE_BYTES + 4] = i % GOP === 0 ? 0x65 : 0x41;
  }
  return Buffer.concat([ftyp, free, box('mdat', samples), madeUpMoov()]);
}

function box(type: string, ...parts: Buffer[]): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + parts.reduce((sum, p) => sum + p.length, 0), 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, ...parts]);
}

/** A full box body: version 0, `flags`, then big-endian u32 values. */
function u32s(flags: number, values: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(4 + 4 * values.length);
  out.writeUInt32BE(flags, 0);
  for (let i = 0; i < values.length; i++) out.writeUInt32BE(values[i]! >>> 0, 4 + 4 * i);
  return out;
}

const MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];

/**
 * One video track of FRAMES frames in groups of three (decode order P, B, B;
 * presentation B, B, P: ctts 3 frames, 0, 0), an IDR every GOP frames, and
 * an edit list starting at the first presented frame, as ffmpeg writes it
 * (exported for its test).
 */
export function madeUpMoov(): Buffer {
  const duration = FRAMES * FRAME_TICKS;
  const movieDuration = Math.round((duration * 1000) / TIMESCALE);
  const mvhd = box('mvhd', u32s(0, [0, 0, 1000, movieDuration, 0x00010000, 0x01000000, 0, 0, ...MATRIX, 0, 0, 0, 0, 0, 0, 2]));
  const tkhd = box('tkhd', u32s(3, [0, 0, 1, 0, movieDuration, 0, 0, 0, 0, ...MATRIX, 64 << 16, 64 << 16]));
  const elst = box('elst', u32s(0, [1, movieDuration, FRAME_TICKS, 0x00010000]));
  const mdhd = box('mdhd', u32s(0, [0, 0, TIMESCALE, duration, 0x55c40000]));
  const hdlr = box('hdlr', u32s(0, [0, 0x76696465, 0, 0, 0]), Buffer.from('warm-up\0', 'latin1'));
  const vmhd = box('vmhd', u32s(1, [0, 0]));
  const dinf = box('dinf', box('dref', u32s(0, [1]), box('url ', u32s(1, []))));
  const ctts: number[] = [FRAMES / 3 * 2];
  for (let g = 0; g < FRAMES / 3; g++) ctts.push(1, 3 * FRAME_TICKS, 2, 0);
  const stss: number[] = [FRAMES / GOP];
  for (let i = 0; i < FRAMES; i += GOP) stss.push(i + 1);
  const chunks = FRAMES / SAMPLES_PER_CHUNK;
  const stco: number[] = [chunks];
  for (let c = 0; c < chunks; c++) stco.push(FIRST_CHUNK_AT + c * SAMPLES_PER_CHUNK * SAMPLE_BYTES);
  const stbl = box(
    'stbl',
    STSD,
    box('stts', u32s(0, [1, FRAMES, FRAME_TICKS])),
    box('ctts', u32s(0, ctts)),
    box('stss', u32s(0, stss)),
    box('stsc', u32s(0, [1, 1, SAMPLES_PER_CHUNK, 1])),
    box('stsz', u32s(0, [0, FRAMES, ...new Array<number>(FRAMES).fill(SAMPLE_BYTES)])),
    box('stco', u32s(0, stco)),
  );
  const trak = box('trak', tkhd, box('edts', elst), box('mdia', mdhd, hdlr, box('minf', vmhd, dinf, stbl)));
  return box('moov', mvhd, trak);
}
