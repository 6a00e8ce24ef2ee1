import type { Plan } from '../plan/plan.js';
import { sheetThumbnails, type ThumbnailPlan } from '../plan/thumbnails.js';
import { run, type RunOptions } from '../process/runner.js';
import { sourceInput } from '../process/source-input.js';
import { SpanError } from './transcode.js';

/**
 * Seek thumbnails and posters: pictures decoded from keyframes only. One
 * ffmpeg per sheet seeks to the sheet's first keyframe and decodes nothing
 * but keyframes (-skip_frame nokey); a select on their exact source
 * timestamps keeps the ones the thumbnail plan names, scaled to the tile size
 * (area averaging: a sharp downscale), as raw RGB. The sheet is laid out here
 * and encoded as one JPEG by a second ffmpeg. A sheet thus costs the
 * keyframe decodes between its first and last thumbnail (and reading that
 * stretch of the file), never an encode of video.
 */

const COMMON = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'];
/**
 * mjpeg's quantizer (2 best … 31 worst), and full-resolution chroma (4:4:4, baseline JPEG every decoder reads): at
 * 160 px wide, 4:2:0 smears the colour of every edge (a saturated test pattern's tile measured 28.4 dB against the
 * source frame at 4:2:0, 40.9 dB at 4:4:4, for 1.6× the bytes).
 */
const JPEG_QUALITY = 3;
const RGB = 3;

const seconds = (value: number) => (Math.round(value * 1e6) / 1e6).toFixed(6);

/**
 * Decodes the keyframes at these source timestamps (ascending, distinct)
 * scaled to width × height, as raw RGB24 on stdout, in that order.
 */
export function keyframeDecodeArgs(sourcePath: string, plan: Plan, pts: readonly number[], width: number, height: number, keyframesOnly: boolean): string[] {
  // Under -copyts the filter sees the stream's own timestamps, so select matches the probe's ticks exactly.
  const select = `select='${pts.map((p) => `eq(pts,${p})`).join('+')}'`;
  // A quarter frame past the first keyframe: the demuxer's seek lands on it, not on the keyframe before.
  const seek = pts[0]! / plan.sourceTimescale - plan.sourceStartSeconds + 0.25 / Math.max(plan.frameRate, 1);
  return [
    ...COMMON,
    ...(keyframesOnly ? ['-skip_frame', 'nokey'] : []),
    ...(keyframesOnly && seek > 0 ? ['-noaccurate_seek', '-ss', seconds(seek)] : []),
    '-copyts',
    ...sourceInput(sourcePath),
    '-map', `0:v:${plan.videoTrackIndex}`,
    '-an', '-sn', '-dn', '-map_metadata', '-1',
    '-vf', `${select},scale=${width}:${height}:flags=area,setsar=1,format=rgb24`,
    '-fps_mode', 'passthrough',
    '-frames:v', String(pts.length),
    '-f', 'rawvideo', 'pipe:1',
  ];
}

/** Encodes one RGB24 picture from stdin as a baseline JPEG on stdout. */
export function jpegEncodeArgs(width: number, height: number): string[] {
  return [
    ...COMMON,
    '-protocol_whitelist', 'pipe',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-i', 'pipe:0',
    '-frames:v', '1', '-pix_fmt', 'yuvj444p', '-c:v', 'mjpeg', '-q:v', String(JPEG_QUALITY),
    '-map_metadata', '-1', '-bitexact', '-f', 'mjpeg', 'pipe:1',
  ];
}

export interface MadeImage {
  jpeg: Buffer;
  log: string;
}

/** The keyframes at `pts` (any order, repeats allowed) as RGB pictures, keyed by timestamp. */
async function decodeKeyframes(sourcePath: string, plan: Plan, pts: readonly number[], size: { width: number; height: number }, keyframesOnly: boolean, limits: RunOptions) {
  const distinct = [...new Set(pts)].sort((a, b) => a - b);
  const decoded = await run('ffmpeg', keyframeDecodeArgs(sourcePath, plan, distinct, size.width, size.height, keyframesOnly), limits);
  const frameBytes = size.width * size.height * RGB;
  if (decoded.stdout.length !== distinct.length * frameBytes) {
    const got = decoded.stdout.length / frameBytes;
    throw new SpanError(`the keyframe decode gave ${got} of ${distinct.length} pictures (timestamps ${distinct[0]}…${distinct[distinct.length - 1]})`, decoded.log);
  }
  const pictures = new Map<number, Uint8Array>();
  distinct.forEach((p, i) => pictures.set(p, decoded.stdout.subarray(i * frameBytes, (i + 1) * frameBytes)));
  return { pictures, log: decoded.log };
}

async function encodeJpeg(rgb: Uint8Array, width: number, height: number, limits: RunOptions, log: string): Promise<MadeImage> {
  const encoded = await run('ffmpeg', jpegEncodeArgs(width, height), { ...limits, input: rgb });
  return { jpeg: Buffer.from(encoded.stdout), log: log + encoded.log };
}

/** Sheet `number` (1-based): its thumbnails left to right, top to bottom; cells past the last thumbnail stay black. */
export async function makeThumbnailSheet(sourcePath: string, plan: Plan, thumbs: ThumbnailPlan, number: number, limits: RunOptions = {}): Promise<MadeImage> {
  const tiles = sheetThumbnails(thumbs, number);
  const { width, height, columns, rows } = thumbs;
  const { pictures, log } = await decodeKeyframes(sourcePath, plan, tiles.map((t) => t.pts), thumbs, thumbs.keyframesOnly, limits);
  const sheetWidth = width * columns;
  const sheet = Buffer.alloc(sheetWidth * height * rows * RGB);
  tiles.forEach((tile, cell) => {
    const picture = pictures.get(tile.pts)!;
    const left = (cell % columns) * width;
    const top = Math.floor(cell / columns) * height;
    for (let y = 0; y < height; y++) {
      sheet.set(picture.subarray(y * width * RGB, (y + 1) * width * RGB), ((top + y) * sheetWidth + left) * RGB);
    }
  });
  return encodeJpeg(sheet, sheetWidth, height * rows, limits, log);
}

/** The content's poster: one keyframe at the poster's size. */
export async function makePoster(sourcePath: string, plan: Plan, thumbs: ThumbnailPlan, limits: RunOptions = {}): Promise<MadeImage> {
  const { poster } = thumbs;
  const { pictures, log } = await decodeKeyframes(sourcePath, plan, [poster.pts], poster, thumbs.keyframesOnly, limits);
  return encodeJpeg(pictures.get(poster.pts)!, poster.width, poster.height, limits, log);
}

/** Why these bytes are not a whole JPEG (start and end markers), or undefined when they are. */
export function jpegProblem(bytes: Uint8Array): string | undefined {
  if (bytes.length < 4) return `${bytes.length} bytes`;
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return 'no JPEG start marker';
  if (bytes[bytes.length - 2] !== 0xff || bytes[bytes.length - 1] !== 0xd9) return 'no JPEG end marker (cut short)';
  return undefined;
}
