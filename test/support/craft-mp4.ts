/**
 * Hand-edited MP4s for the hostile-media tests: an ffmpeg-made file is read
 * into a box tree, a few bytes are changed (or boxes added), and it is
 * written back with every container size recomputed. The moov must follow
 * the mdat (ffmpeg's default), so changing its size moves no sample.
 */
import { readFile, writeFile } from 'node:fs/promises';

export interface Mp4Box {
  type: string;
  /** Body of a leaf box (everything after the 8-byte header). */
  payload?: Buffer;
  children?: Mp4Box[];
}

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'dinf', 'mvex']);

export function parseBoxes(buf: Buffer, start = 0, end = buf.length): Mp4Box[] {
  const out: Mp4Box[] = [];
  let p = start;
  while (p + 8 <= end) {
    let size = buf.readUInt32BE(p);
    const type = buf.toString('latin1', p + 4, p + 8);
    let header = 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(p + 8));
      header = 16;
    } else if (size === 0) {
      size = end - p;
    }
    if (header !== 8) throw new Error(`craft-mp4 keeps 32-bit box sizes only ('${type}')`);
    out.push(CONTAINERS.has(type) ? { type, children: parseBoxes(buf, p + 8, p + size) } : { type, payload: Buffer.from(buf.subarray(p + 8, p + size)) });
    p += size;
  }
  return out;
}

export function serializeBoxes(boxes: Mp4Box[]): Buffer {
  return Buffer.concat(
    boxes.map((box) => {
      const body = box.children ? serializeBoxes(box.children) : box.payload!;
      const header = Buffer.alloc(8);
      header.writeUInt32BE(8 + body.length, 0);
      header.write(box.type, 4, 'latin1');
      return Buffer.concat([header, body]);
    }),
  );
}

export function child(box: Mp4Box, type: string): Mp4Box {
  const found = box.children?.find((c) => c.type === type);
  if (!found) throw new Error(`no '${type}' in '${box.type}'`);
  return found;
}

/** The first trak whose handler is `handler` ('vide', 'soun'). */
export function trakOf(boxes: Mp4Box[], handler: string): Mp4Box {
  const moov = boxes.find((b) => b.type === 'moov')!;
  const trak = moov.children!.find((t) => t.type === 'trak' && child(child(t, 'mdia'), 'hdlr').payload!.toString('latin1', 8, 12) === handler);
  if (!trak) throw new Error(`no '${handler}' trak`);
  return trak;
}

export const stblOf = (trak: Mp4Box) => child(child(child(trak, 'mdia'), 'minf'), 'stbl');

/** Reads an MP4, lets `edit` change its boxes, writes the result to `target`. */
export async function craftMp4(source: string, target: string, edit: (boxes: Mp4Box[]) => void): Promise<void> {
  const boxes = parseBoxes(await readFile(source));
  const names = boxes.map((b) => b.type);
  if (names.indexOf('moov') < names.indexOf('mdat')) throw new Error('craft-mp4 needs the moov after the mdat');
  edit(boxes);
  await writeFile(target, serializeBoxes(boxes));
}

/** A full box payload: version, flags, then the given big-endian u32 values. */
export function fullBoxU32(version: number, values: number[]): Buffer {
  const out = Buffer.alloc(4 + 4 * values.length);
  out.writeUInt8(version, 0);
  values.forEach((v, i) => out.writeUInt32BE(v >>> 0, 4 + 4 * i));
  return out;
}
