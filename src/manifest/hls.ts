import { hlsFrameRate } from '../plan/frame-rate.js';
import type { AudioRendition, Plan, VideoRendition } from '../plan/plan.js';
import { segmentFileName } from '../plan/plan.js';
import { figuresFor, manifestFigures, widestAudio, type ManifestFigures } from './figures.js';
import { languageTag } from './language.js';
import type { SubtitleTrack } from '../plan/subtitles.js';
import { hlsSubtitleMedia, SUBTITLE_GROUP } from './subtitles.js';
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
  // Never the HDR-keeping HEVC rendition: a player that cannot decode it would have to start elsewhere anyway.
  const h264 = plan.renditions.filter((r) => !r.hevc);
  const sensible = h264.filter((r) => lines(r) >= START_MIN_LINES);
  if (sensible.length > 0) return sensible.reduce((best, r) => (pixels(r) < pixels(best) ? r : best));
  return h264.reduce((best, r) => (pixels(r) > pixels(best) ? r : best));
}

/** What a multivariant playlist carries beside the video and audio of the plan. */
export interface HlsExtras {
  /** The SUBTITLES group (manifest/subtitles.ts). */
  subtitles?: readonly SubtitleTrack[];
  /** Lines appended as they are (the thumbnail track's EXT-X-IMAGE-STREAM-INF, manifest/thumbnails.ts). */
  images?: readonly string[];
}

export function multivariantPlaylist(plan: Plan, uriPrefix = '', query = '', figures: ManifestFigures = manifestFigures(plan), extras: HlsExtras = {}): string {
  const { subtitles = [], images = [] } = extras;
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
  lines.push(...hlsSubtitleMedia(subtitles, uriPrefix, query));
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
      ...(rendition.videoRange ? [`VIDEO-RANGE=${rendition.videoRange}`] : []),
      // The output never carries CEA-608/708 captions (transcode/encoder-args.ts): saying so keeps Shaka from
      // fetching two more segments to look for them before it starts.
      'CLOSED-CAPTIONS=NONE',
      ...(hasAudio ? [`AUDIO=${quote(AUDIO_GROUP)}`] : []),
      ...(subtitles.length > 0 ? [`SUBTITLES=${quote(SUBTITLE_GROUP)}`] : []),
    ];
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(',')}`, uriPrefix + videoPlaylistPath(rendition) + query);
  }
  lines.push(...images);
  return lines.join('\n') + '\n';
}

interface TimedSegment {
  index: number;
  duration: number;
}

/** EXTINF to the microsecond; the exact tick count is in the segment itself. */
const extinf = (ticks: number, timescale: number) => (ticks / timescale).toFixed(6);

/**
 * Where a media playlist's first segment starts, as EXT-X-PROGRAM-DATE-TIME on
 * a fixed epoch (the output timeline's seconds after 1970-01-01, to the
 * millisecond): Shaka, outside sequence mode, places each HLS segment at its
 * playlist time (timestampOffset = playlist time − the segment's first sample
 * time), and every playlist starts at 0 — so audio that starts 0.5 s after
 * the video played 0.5 s early. With a date on each playlist it offsets each
 * by its date. Audio that starts before the video is dated at the video's
 * start: a date before it would have Shaka start on audio alone and jump the
 * gap to the first picture; it plays as early as the difference then (its
 * first sample at the first picture), as without dates. Players that place
 * segments by their own timestamps (hls.js, Safari, ffmpeg) are not affected.
 */
function firstSegmentDate(plan: Plan, segments: readonly { start: number }[]): string | undefined {
  const first = segments[0];
  const videoStart = plan.videoSegments[0]?.start;
  if (!first || videoStart === undefined) return undefined;
  const start = Math.max(first.start, videoStart);
  return new Date(Math.round((start / plan.timescale) * 1000)).toISOString();
}

function mediaPlaylist(plan: Plan, segments: readonly (TimedSegment & { start: number })[], query: string, keyTags: readonly string[] = []): string {
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
  const date = firstSegmentDate(plan, segments);
  if (date) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${date}`);
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
