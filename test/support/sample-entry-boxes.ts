import { readFile, writeFile } from 'node:fs/promises';

/**
 * Writes a copy of an MP4 whose first video sample entry ends with the given
 * boxes (e.g. mdcv, clli, dvcC, which FFmpeg's own muxer does not write from an
 * x265 stream). The moov must follow the mdat, so no chunk offset moves; the
 * sample entry and every box around it grow by the bytes added.
 */
export async function withSampleEntryBoxes(source: string, target: string, boxes: Buffer[]): Promise<void> {
  const file = await readFile(source);
  const added = Buffer.concat(boxes);
  const path = ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'];
  const grown: number[] = [];
  let start = 0;
  let end = file.length;
  let mdatSeen = false;
  for (const type of path) {
    const found = findChild(file, start, end, type, type === 'trak' ? isVideoTrak : undefined);
    if (!found) throw new Error(`no ${type} box in ${source}`);
    if (type === 'moov') mdatSeen = findChild(file, 0, found.start, 'mdat') !== undefined;
    grown.push(found.start);
    [start, end] = [found.start + 8, found.start + file.readUInt32BE(found.start)];
  }
  if (!mdatSeen) throw new Error(`${source}: the moov must follow the mdat`);
  // stsd: version/flags and entry count, then the first sample entry.
  const entry = start + 8;
  const entryEnd = entry + file.readUInt32BE(entry);
  grown.push(entry);
  const out = Buffer.concat([file.subarray(0, entryEnd), added, file.subarray(entryEnd)]);
  for (const at of grown) out.writeUInt32BE(out.readUInt32BE(at) + added.length, at);
  await writeFile(target, out);
}

export function box(type: string, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + payload.length, 0);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, payload]);
}

function findChild(file: Buffer, start: number, end: number, type: string, accept?: (file: Buffer, at: number) => boolean): { start: number } | undefined {
  for (let p = start; p + 8 <= end; ) {
    const size = file.readUInt32BE(p);
    if (size < 8) return undefined;
    if (file.toString('latin1', p + 4, p + 8) === type && (!accept || accept(file, p))) return { start: p };
    p += size;
  }
  return undefined;
}

/** A trak whose handler is 'vide' (the hdlr's handler_type sits 8 bytes into its payload). */
function isVideoTrak(file: Buffer, at: number): boolean {
  const hdlr = file.indexOf('hdlr', at, 'latin1');
  return hdlr > 0 && hdlr < at + file.readUInt32BE(at) && file.toString('latin1', hdlr + 12, hdlr + 16) === 'vide';
}
