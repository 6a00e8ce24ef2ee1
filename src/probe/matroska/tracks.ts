/**
 * The Matroska Tracks element: what the video scan needs of each video
 * track, in file order (ffmpeg's matroska demuxer numbers its streams in
 * that order, attachments after them).
 */
import { ID, readElementHeader, readFloat, readUint, UNKNOWN_SIZE } from './ebml.js';

export interface MatroskaVideoTrack {
  number: number;
  codecId: string;
  codecPrivate: Uint8Array | undefined;
  /** Nanoseconds; 0 when absent. */
  defaultDuration: number;
  width: number;
  height: number;
  /** Anything ffmpeg's demuxer would apply that the scan does not (compression, a track time scale, a codec delay). */
  unusual: boolean;
}

/** The video tracks (TrackType 1 with a CodecID) of a Tracks element's data; undefined when it is malformed. */
export function videoTracksOf(b: Uint8Array): MatroskaVideoTrack[] | undefined {
  const tracks: MatroskaVideoTrack[] = [];
  let p = 0;
  while (p < b.length) {
    const h = readElementHeader(b, p);
    if (!h || h.size === UNKNOWN_SIZE || p + h.headerLength + h.size > b.length) return undefined;
    const data = p + h.headerLength;
    if (h.id === ID.TrackEntry) {
      const track = trackEntry(b.subarray(data, data + h.size));
      if (track === undefined) return undefined;
      if (track) tracks.push(track);
    }
    p = data + h.size;
  }
  return tracks;
}

/** One TrackEntry: its video track, null for another kind, undefined when malformed. */
function trackEntry(b: Uint8Array): MatroskaVideoTrack | null | undefined {
  let type = 0;
  const track: MatroskaVideoTrack = { number: 0, codecId: '', codecPrivate: undefined, defaultDuration: 0, width: 0, height: 0, unusual: false };
  let p = 0;
  while (p < b.length) {
    const h = readElementHeader(b, p);
    if (!h || h.size === UNKNOWN_SIZE || p + h.headerLength + h.size > b.length) return undefined;
    const data = p + h.headerLength;
    const size = h.size;
    switch (h.id) {
      case ID.TrackNumber: track.number = readUint(b, data, size); break;
      case ID.TrackType: type = readUint(b, data, size); break;
      case ID.CodecID: track.codecId = Buffer.from(b.buffer, b.byteOffset + data, size).toString('latin1').replace(/\0+$/, ''); break;
      case ID.CodecPrivate: track.codecPrivate = b.subarray(data, data + size); break;
      case ID.DefaultDuration: track.defaultDuration = readUint(b, data, size); break;
      case ID.TrackTimestampScale: track.unusual ||= readFloat(b, data, size) !== 1; break;
      case ID.CodecDelay: track.unusual ||= readUint(b, data, size) !== 0; break;
      case ID.ContentEncodings: track.unusual = true; break;
      case ID.Video: videoSize(b.subarray(data, data + size), track); break;
    }
    p = data + size;
  }
  return type === 1 && track.codecId !== '' ? track : null;
}

function videoSize(b: Uint8Array, track: MatroskaVideoTrack): void {
  let p = 0;
  while (p < b.length) {
    const h = readElementHeader(b, p);
    if (!h || h.size === UNKNOWN_SIZE || p + h.headerLength + h.size > b.length) return;
    const data = p + h.headerLength;
    if (h.id === ID.PixelWidth) track.width = readUint(b, data, h.size);
    if (h.id === ID.PixelHeight) track.height = readUint(b, data, h.size);
    p = data + h.size;
  }
}

/** The TimestampScale (ns per tick) of an Info element's data (default 1,000,000). */
export function timestampScaleOf(b: Uint8Array): number | undefined {
  let scale = 1_000_000;
  let p = 0;
  while (p < b.length) {
    const h = readElementHeader(b, p);
    if (!h || h.size === UNKNOWN_SIZE || p + h.headerLength + h.size > b.length) return undefined;
    if (h.id === ID.TimestampScale) scale = readUint(b, p + h.headerLength, h.size);
    p += h.headerLength + h.size;
  }
  return scale > 0 ? scale : undefined;
}

/** The NAL length-field size of an avcC (H.264) or hvcC (HEVC) CodecPrivate; undefined when it is not one. */
export function nalLengthSize(codec: 'h264' | 'hevc', codecPrivate: Uint8Array | undefined): number | undefined {
  if (!codecPrivate) return undefined;
  if (codec === 'h264') return codecPrivate.length >= 7 && codecPrivate[0] === 1 ? (codecPrivate[4]! & 3) + 1 : undefined;
  return codecPrivate.length >= 23 && codecPrivate[0] === 1 ? (codecPrivate[21]! & 3) + 1 : undefined;
}

/** The codec name ffprobe gives a Matroska CodecID the scan reads (H.264, HEVC). */
export function nalCodecOfMatroska(codecId: string): 'h264' | 'hevc' | undefined {
  return codecId === 'V_MPEG4/ISO/AVC' ? 'h264' : codecId === 'V_MPEGH/ISO/HEVC' ? 'hevc' : undefined;
}
