import { hlsFrameRate } from '../plan/frame-rate.js';
import type { AudioRendition, Plan, VideoRendition } from '../plan/plan.js';
import { segmentFileName } from '../plan/plan.js';
import { figuresFor, manifestFigures, widestAudio, type ManifestFigures } from './figures.js';
import { languageTag } from './language.js';
import { hlsKeyTags, type ManifestProtection } from './protection.js';

/**
 * HLS (RFC 8216) playlists from the plan, fMP4/CMAF segments with EXT-X-MAP.
 * `uriPrefix` is prepended to rendition paths in the multivariant playlist:
 * "" when it is served beside them, an absolute path when it is not (/vod/…).
 * `query` ("?exp=…&sig=…" for signed URLs, else "") is appended to every URI.
 * `figures` are the bit rates to declare (figures.ts): the plan's upper
 * bounds unless segments have been measured.
 */

/** Version 7: fMP4 segments with EXT-X-MAP in media playlists (RFC 8216 §7). */
const HLS_VERSION = 7;
const AUDIO_GROUP = 'aac';

const quote = (value: string) => `"${value.replace(/"/g, "'")}"`;

export function videoPlaylistPath(rendition: VideoRendition): string {
  return `video/${rendition.id}/playlist.m3u8`;
}

export function audioPlaylistPath(rendition: AudioRendition): string {
  return `audio/${rendition.id}/playlist.m3u8`;
}

/** The least a player should start at: below 480 lines a first picture looks broken on most screens. */
const START_MIN_LINES = 480;

/**
 * The rendition listed first, which players start on (hls.js starts on the
 * first variant listed, and seeds its bandwidth estimate with its
 * BANDWIDTH; Apple's authoring notes say AVPlayer does too): the one fastest to make at a
 * sensible start quality. Encode time grows with the pixels per frame, so
 * that is the smallest rendition with at least 480 lines on its short side,
 * or, when none has, the largest (all are small then). Players climb from
 * there once segments arrive faster than they play.
 */
export function startRendition(plan: Plan): VideoRendition {
  const lines = (r: VideoRendition) => Math.min(r.width, r.height);
  const pixels = (r: VideoRendition) => r.width * r.height;
  const sensible = plan.renditions.filter((r) => lines(r) >= START_MIN_LINES);
  if (sensible.length > 0) return sensible.reduce((best, r) => (pixels(r) < pixels(best) ? r : best));
  return plan.renditions.reduce((best, r) => (pixels(r) > pixels(best) ? r : best));
}

export function multivariantPlaylist(plan: Plan, uriPrefix = '', query = '', figures: ManifestFigures = manifestFigures(plan)): string {
  const lines = ['#EXTM3U', `#EXT-X-VERSION:${HLS_VERSION}`, '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const audio of plan.audio) {
    const attributes = [
      'TYPE=AUDIO',
      `GROUP-ID=${quote(AUDIO_GROUP)}`,
      ...(audio.language !== 'und' ? [`LANGUAGE=${quote(languageTag(audio.language))}`] : []),
      `NAME=${quote(audio.name)}`,
      `DEFAULT=${audio.isDefault ? 'YES' : 'NO'}`,
      'AUTOSELECT=YES',
      `CHANNELS=${quote(String(audio.channels))}`,
      `URI=${quote(uriPrefix + audioPlaylistPath(audio) + query)}`,
    ];
    lines.push(`#EXT-X-MEDIA:${attributes.join(',')}`);
  }
  // RFC 8216 §4.3.4.2: the largest sum over the renditions a variant can play together.
  const audio = widestAudio(figures);
  const hasAudio = plan.audio.length > 0;
  // The start rendition first, then the rest by the plan's bounds (not by measurements, so the order never changes
  // under a player), highest first.
  const first = startRendition(plan);
  const rest = plan.renditions.filter((r) => r !== first).sort((a, b) => b.peakBandwidth - a.peakBandwidth);
  for (const rendition of [first, ...rest]) {
    const video = figuresFor(figures.video, rendition.id);
    const codecs = hasAudio ? `${rendition.codecs},${plan.audio[0]!.codecs}` : rendition.codecs;
    const attributes = [
      `BANDWIDTH=${video.peak + audio.peak}`,
      `AVERAGE-BANDWIDTH=${video.average + audio.average}`,
      `RESOLUTION=${rendition.width}x${rendition.height}`,
      `CODECS=${quote(codecs)}`,
      `FRAME-RATE=${hlsFrameRate(plan.frameRates)}`,
      ...(hasAudio ? [`AUDIO=${quote(AUDIO_GROUP)}`] : []),
    ];
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(',')}`, uriPrefix + videoPlaylistPath(rendition) + query);
  }
  return lines.join('\n') + '\n';
}

interface TimedSegment {
  index: number;
  duration: number;
}

/** EXTINF to the microsecond; the exact tick count is in the segment itself. */
const extinf = (ticks: number, timescale: number) => (ticks / timescale).toFixed(6);

function mediaPlaylist(plan: Plan, segments: readonly TimedSegment[], query: string, keyTags: readonly string[] = []): string {
  // RFC 8216 §4.3.3.1: each EXTINF rounded to the nearest integer must not exceed the target duration.
  const target = Math.max(1, ...segments.map((s) => Math.round(s.duration / plan.timescale)));
  const lines = [
    '#EXTM3U',
    `#EXT-X-VERSION:${HLS_VERSION}`,
    `#EXT-X-TARGETDURATION:${target}`,
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXT-X-MEDIA-SEQUENCE:0',
    '#EXT-X-INDEPENDENT-SEGMENTS',
    `#EXT-X-MAP:URI=${quote(`init.mp4${query}`)}`,
    // Protected content (protection.ts): every segment is encrypted, the init is not.
    ...keyTags,
  ];
  for (const segment of segments) {
    lines.push(`#EXTINF:${extinf(segment.duration, plan.timescale)},`, segmentFileName(plan.segmentTemplate, segment.index + 1) + query);
  }
  lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}

export function videoMediaPlaylist(plan: Plan, query = '', protection?: ManifestProtection): string {
  return mediaPlaylist(plan, plan.videoSegments, query, protection ? hlsKeyTags(protection, 'video') : []);
}

export function audioMediaPlaylist(plan: Plan, audio: AudioRendition, query = '', protection?: ManifestProtection): string {
  return mediaPlaylist(plan, audio.segments, query, protection ? hlsKeyTags(protection, 'audio') : []);
}
