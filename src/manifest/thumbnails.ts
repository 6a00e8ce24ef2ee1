import { sheetThumbnails, tileOf, type ThumbnailPlan } from '../plan/thumbnails.js';

/**
 * The thumbnail track in the three forms players read, pure functions of the
 * thumbnail plan (plan/thumbnails.ts):
 *  - a WebVTT index, one cue per thumbnail pointing into its sheet with a
 *    media fragment (`tile_1.jpg#xywh=x,y,w,h`: video.js, JW Player, Plyr,
 *    Vidstack, Shaka's addThumbnailsTrack, our web UI);
 *  - the DASH-IF image AdaptationSet (IOP 4.3 §6.2.6: contentType="image",
 *    EssentialProperty http://dashif.org/thumbnail_tile = "CxR"), which
 *    Shaka Player and dash.js read from the MPD;
 *  - an HLS image media playlist with EXT-X-TILES, listed in the
 *    multivariant playlist by EXT-X-IMAGE-STREAM-INF (the image-playlist
 *    convention of Roku and Apple's tvOS trick play; Shaka reads it too).
 * Paths are relative to the content's base (…/api/v1/content/{hash}/).
 */

export const THUMBNAILS_DIR = 'thumbs';
export const VTT_FILE = 'thumbnails.vtt';
export const IMAGE_PLAYLIST_FILE = 'playlist.m3u8';
export const POSTER_FILE = 'poster.jpg';

export function sheetFileName(number: number): string {
  return `tile_${number}.jpg`;
}

/** Where the track's files are, relative to the content's base. */
export function thumbnailTrackPath(thumbs: ThumbnailPlan): string {
  return `${THUMBNAILS_DIR}/${thumbs.id}/`;
}

/**
 * A sheet's JPEG bytes assumed for the manifests' bandwidth: half a byte per pixel (measured on full sheets: 0.43 on
 * the 2-hour bench source's noise; a test pattern compresses far better).
 */
function sheetBandwidth(thumbs: ThumbnailPlan): number {
  const bytes = thumbs.width * thumbs.height * thumbs.columns * thumbs.rows * 0.5;
  const seconds = thumbs.intervalSeconds * thumbs.columns * thumbs.rows;
  return Math.max(1, Math.ceil((bytes * 8) / seconds));
}

const escapeXml = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** WebVTT timestamp, hh:mm:ss.mmm. */
export function vttTime(seconds: number): string {
  const total = Math.round(seconds * 1000);
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor(total / 60_000) % 60;
  const s = Math.floor(total / 1000) % 60;
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(total % 1000, 3)}`;
}

/** The WebVTT index, served beside the sheets (its URIs are relative to it); `query` signs each sheet's URI. */
export function thumbnailsVtt(thumbs: ThumbnailPlan, query = ''): string {
  const lines = ['WEBVTT', ''];
  for (const t of thumbs.thumbnails) {
    const { sheet, x, y } = tileOf(thumbs, t.index);
    lines.push(`${vttTime(t.startSeconds)} --> ${vttTime(t.endSeconds)}`, `${sheetFileName(sheet)}${query}#xywh=${x},${y},${thumbs.width},${thumbs.height}`, '');
  }
  return lines.join('\n');
}

/**
 * The image AdaptationSet for the MPD. Every sheet lasts columns × rows × T
 * (the last one too: its @duration runs past the end, where players clamp
 * it), so each tile lasts exactly T as the scheme divides it.
 */
export function dashImageAdaptationSet(thumbs: ThumbnailPlan, id: number, query = ''): string {
  const perSheet = thumbs.columns * thumbs.rows;
  const media = `${thumbnailTrackPath(thumbs)}tile_$Number$.jpg${query}`;
  return [
    `<AdaptationSet id="${id}" contentType="image" mimeType="image/jpeg">`,
    `<SegmentTemplate media="${escapeXml(media)}" timescale="1000" duration="${Math.round(perSheet * thumbs.intervalSeconds * 1000)}" startNumber="1"/>`,
    `<Representation id="${thumbs.id}" bandwidth="${sheetBandwidth(thumbs)}" width="${thumbs.width * thumbs.columns}" height="${thumbs.height * thumbs.rows}">`,
    `<EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" value="${thumbs.columns}x${thumbs.rows}"/>`,
    '</Representation>',
    '</AdaptationSet>',
  ].join('\n');
}

/** The multivariant playlist's line for the image playlist (RESOLUTION is one tile's, as the convention has it). */
export function hlsImageStreamInf(thumbs: ThumbnailPlan, uriPrefix = '', query = ''): string {
  const uri = `${uriPrefix}${thumbnailTrackPath(thumbs)}${IMAGE_PLAYLIST_FILE}${query}`;
  return `#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=${sheetBandwidth(thumbs)},RESOLUTION=${thumbs.width}x${thumbs.height},CODECS="jpeg",URI="${uri.replace(/"/g, "'")}"`;
}

/** The image media playlist: one sheet per segment, each tile lasting T. */
export function hlsImagePlaylist(thumbs: ThumbnailPlan, query = ''): string {
  const sheetSeconds = (n: number) => {
    const tiles = sheetThumbnails(thumbs, n);
    return tiles[tiles.length - 1]!.endSeconds - tiles[0]!.startSeconds;
  };
  const durations = Array.from({ length: thumbs.sheets }, (_, i) => sheetSeconds(i + 1));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${Math.max(1, ...durations.map((d) => Math.round(d)))}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-IMAGES-ONLY',
  ];
  durations.forEach((duration, i) => {
    lines.push(
      `#EXTINF:${duration.toFixed(3)},`,
      `#EXT-X-TILES:RESOLUTION=${thumbs.width}x${thumbs.height},LAYOUT=${thumbs.columns}x${thumbs.rows},DURATION=${thumbs.intervalSeconds.toFixed(3)}`,
      sheetFileName(i + 1) + query,
    );
  });
  lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}
