/**
 * Colour boxes of a visual sample entry, read from the moov bytes: `colr`
 * (nclx, QuickTime's nclc), `mdcv` (mastering display), `clli` (content light
 * level) and the Dolby Vision configuration (`dvcC`, `dvvC`, `dvwC`).
 * mp4box.js does not parse all of them, and the layouts are a few fixed fields.
 */
import { colourFromCicp, type VideoColour } from '../colour.js';
import type { SampleEntryLike } from './boxes.js';

/** Box header (8) + the VisualSampleEntry fields (78): where a visual sample entry's child boxes start. */
const VISUAL_ENTRY_FIELDS = 78;

export function readColourBoxes(entry: SampleEntryLike, view: DataView): VideoColour | undefined {
  const start = entry.start;
  if (start === undefined || entry.size === undefined || start + 16 > view.byteLength) return undefined;
  const header = view.getUint32(start) === 1 ? 16 : 8;
  const end = Math.min(start + entry.size, view.byteLength);
  const colour: VideoColour = {};
  for (let p = start + header + VISUAL_ENTRY_FIELDS; p + 8 <= end; ) {
    const size = view.getUint32(p);
    if (size < 8 || p + size > end) break;
    const type = String.fromCharCode(view.getUint8(p + 4), view.getUint8(p + 5), view.getUint8(p + 6), view.getUint8(p + 7));
    readBox(type, view, p + 8, p + size, colour);
    p += size;
  }
  return Object.keys(colour).length > 0 ? colour : undefined;
}

function readBox(type: string, view: DataView, body: number, end: number, colour: VideoColour): void {
  const u16 = (at: number) => view.getUint16(body + at);
  const u32 = (at: number) => view.getUint32(body + at);
  const fits = (bytes: number) => body + bytes <= end;
  if (type === 'colr' && fits(10)) {
    const kind = String.fromCharCode(view.getUint8(body), view.getUint8(body + 1), view.getUint8(body + 2), view.getUint8(body + 3));
    // The first colr box that says anything wins, as in FFmpeg's mov demuxer (an ICC profile says no CICP).
    if ((kind === 'nclx' && fits(11)) || kind === 'nclc') {
      if (colour.primaries || colour.transfer || colour.matrix) return;
      const fullRange = kind === 'nclx' ? (view.getUint8(body + 10) & 0x80) !== 0 : undefined;
      Object.assign(colour, colourFromCicp(u16(4), u16(6), u16(8), fullRange));
    }
  } else if (type === 'mdcv' && fits(24)) {
    // Primaries in the SEI's order: green, blue, red.
    colour.mastering = {
      green: [u16(0), u16(2)],
      blue: [u16(4), u16(6)],
      red: [u16(8), u16(10)],
      whitePoint: [u16(12), u16(14)],
      maxLuminance: u32(16),
      minLuminance: u32(20),
    };
  } else if (type === 'clli' && fits(4)) {
    colour.contentLight = { maxCll: u16(0), maxFall: u16(2) };
  } else if ((type === 'dvcC' || type === 'dvvC' || type === 'dvwC') && fits(5)) {
    const bits = u16(2);
    colour.dolbyVision = {
      profile: bits >> 9,
      level: (bits >> 3) & 0x3f,
      rpu: (bits & 0x4) !== 0,
      el: (bits & 0x2) !== 0,
      blCompatibilityId: view.getUint8(body + 4) >> 4,
    };
  }
}
