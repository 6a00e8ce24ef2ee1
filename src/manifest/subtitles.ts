import type { Plan } from '../plan/plan.js';
import { TIMELINE_OFFSET_SECONDS } from '../plan/plan.js';
import type { SubtitleTrack } from '../plan/subtitles.js';
import { languageTag } from './language.js';

/**
 * Subtitles in the manifests, WebVTT both ways:
 * - HLS: one EXT-X-MEDIA TYPE=SUBTITLES group, and per track a media
 *   playlist whose segments are the video's (same count, same EXTINF), each
 *   carrying X-TIMESTAMP-MAP (package/webvtt.ts).
 * - DASH: per track a text AdaptationSet whose one Representation is the
 *   whole track as one WebVTT file on the presentation timeline; dash.js
 *   and Shaka both play that (dash.js plays segmented text only in fMP4).
 */

export const SUBTITLE_GROUP = 'subs';
/** The fMP4 timeline value (90 kHz) of source time 0: X-TIMESTAMP-MAP's MPEGTS. */
export const SUBTITLE_MPEGTS = TIMELINE_OFFSET_SECONDS * 90_000;

const quote = (value: string) => `"${value.replace(/"/g, "'")}"`;
const escapeXml = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export const subtitlePlaylistPath = (track: SubtitleTrack) => `subtitles/${track.id}/playlist.m3u8`;
export const subtitleSegmentName = (number: number) => `segment_${number}.vtt`;
export const subtitleWholeName = 'track.vtt';

/** EXT-X-MEDIA lines of the subtitle group (RFC 8216 §4.3.4.1: AUTOSELECT=YES wherever DEFAULT=YES). */
export function hlsSubtitleMedia(tracks: readonly SubtitleTrack[], uriPrefix: string, query: string): string[] {
  return tracks.map((t) => {
    const attributes = [
      'TYPE=SUBTITLES',
      `GROUP-ID=${quote(SUBTITLE_GROUP)}`,
      ...(t.language !== 'und' ? [`LANGUAGE=${quote(languageTag(t.language))}`] : []),
      `NAME=${quote(t.name)}`,
      `DEFAULT=${t.isDefault ? 'YES' : 'NO'}`,
      'AUTOSELECT=YES',
      `FORCED=${t.isForced ? 'YES' : 'NO'}`,
      ...(t.isHearingImpaired ? [`CHARACTERISTICS=${quote('public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound')}`] : []),
      `URI=${quote(uriPrefix + subtitlePlaylistPath(t) + query)}`,
    ];
    return `#EXT-X-MEDIA:${attributes.join(',')}`;
  });
}

/** A track's media playlist: the video's segments, one WebVTT file each. */
export function subtitleMediaPlaylist(plan: Plan, query = ''): string {
  const target = Math.max(1, ...plan.videoSegments.map((s) => Math.round(s.duration / plan.timescale)));
  const lines = ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${target}`, '#EXT-X-PLAYLIST-TYPE:VOD', '#EXT-X-MEDIA-SEQUENCE:0'];
  for (const s of plan.videoSegments) {
    lines.push(`#EXTINF:${(s.duration / plan.timescale).toFixed(6)},`, subtitleSegmentName(s.index + 1) + query);
  }
  lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}

/** Text AdaptationSets, numbered from `firstId`. */
export function dashTextAdaptationSets(tracks: readonly SubtitleTrack[], firstId: number, query: string): string[] {
  return tracks.map((t, i) => {
    const lang = t.language !== 'und' ? ` lang="${escapeXml(languageTag(t.language))}"` : '';
    const roles = [t.isForced ? 'forced-subtitle' : 'subtitle', ...(t.isDefault ? ['main'] : [])];
    return [
      `<AdaptationSet id="${firstId + i}" contentType="text" mimeType="text/vtt"${lang}>`,
      `<Label>${escapeXml(t.name)}</Label>`,
      ...roles.map((role) => `<Role schemeIdUri="urn:mpeg:dash:role:2011" value="${role}"/>`),
      `<Representation id="${escapeXml(t.id)}" bandwidth="256">`,
      `<BaseURL>${escapeXml(`subtitles/${t.id}/${subtitleWholeName}${query}`)}</BaseURL>`,
      '</Representation>',
      '</AdaptationSet>',
    ].join('\n');
  });
}
