import { dashFrameRate } from '../plan/frame-rate.js';
import type { AudioRendition, Plan, VideoRendition } from '../plan/plan.js';
import type { HdrKeep } from '../plan/hdr-rendition.js';
import { figuresFor, manifestFigures, type ManifestFigures } from './figures.js';
import { languageTag } from './language.js';
import type { SubtitleTrack } from '../plan/subtitles.js';
import { dashTextAdaptationSets } from './subtitles.js';
import { dashContentProtection, DASH_PROTECTION_NAMESPACES, type ManifestProtection } from './protection.js';

/**
 * A static DASH MPD (ISO/IEC 23009-1, DASH-IF live profile with
 * SegmentTemplate + SegmentTimeline) from the plan. Durations are the exact
 * tick counts the segments carry; presentationTimeOffset maps our constant
 * timeline offset back to zero. @bandwidth is the peak of `figures`
 * (figures.ts): the plan's upper bounds unless segments have been measured.
 */

const escapeXml = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** xs:duration with millisecond precision, e.g. PT30.030S. */
export function isoDuration(seconds: number): string {
  return `PT${(Math.round(seconds * 1000) / 1000).toFixed(3)}S`;
}

interface TimelineSegment {
  start: number;
  duration: number;
}

/** Run-length encodes a timeline: an explicit @t only where it does not follow on. */
function segmentTimeline(segments: readonly TimelineSegment[]): string {
  const entries: string[] = [];
  let expected: number | undefined;
  let run: { t?: number; d: number; r: number } | undefined;
  const flush = () => {
    if (!run) return;
    entries.push(`<S${run.t !== undefined ? ` t="${run.t}"` : ''} d="${run.d}"${run.r > 0 ? ` r="${run.r}"` : ''}/>`);
  };
  for (const segment of segments) {
    const continues = expected === segment.start;
    if (run && continues && run.d === segment.duration) {
      run.r += 1;
    } else {
      flush();
      run = { d: segment.duration, r: 0, ...(continues ? {} : { t: segment.start }) };
    }
    expected = segment.start + segment.duration;
  }
  flush();
  return `<SegmentTimeline>${entries.join('')}</SegmentTimeline>`;
}

function segmentTemplate(plan: Plan, kind: 'video' | 'audio', segments: readonly TimelineSegment[], query: string): string {
  const media = `${kind}/$RepresentationID$/${plan.segmentTemplate}${query}`;
  const initialization = `${kind}/$RepresentationID$/init.mp4${query}`;
  return (
    `<SegmentTemplate timescale="${plan.timescale}" presentationTimeOffset="${plan.presentationTimeOffset}" ` +
    `initialization="${escapeXml(initialization)}" media="${escapeXml(media)}" startNumber="1">` +
    segmentTimeline(segments) +
    '</SegmentTemplate>'
  );
}

function audioAdaptationSet(plan: Plan, audio: AudioRendition, id: number, query: string, figures: ManifestFigures, protection?: ManifestProtection): string {
  const lang = audio.language !== 'und' ? ` lang="${escapeXml(languageTag(audio.language))}"` : '';
  return [
    `<AdaptationSet id="${id}" contentType="audio" mimeType="audio/mp4" segmentAlignment="true" startWithSAP="1"${lang}>`,
    ...(protection ? dashContentProtection(protection, 'audio') : []),
    `<Label>${escapeXml(audio.name)}</Label>`,
    `<Role schemeIdUri="urn:mpeg:dash:role:2011" value="${audio.isDefault ? 'main' : 'alternate'}"/>`,
    segmentTemplate(plan, 'audio', audio.segments, query),
    `<Representation id="${audio.id}" codecs="${audio.codecs}" bandwidth="${figuresFor(figures.audio, audio.id).peak}" audioSamplingRate="${audio.sampleRate}">`,
    `<AudioChannelConfiguration schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011" value="${audio.channels}"/>`,
    '</Representation>',
    '</AdaptationSet>',
  ].join('\n');
}

/** CICP code points (ISO/IEC 23091-2) of the HDR set, as SupplementalProperty: a player that does not know them still sees the set. */
const CICP: Record<string, number> = { bt2020: 9, smpte2084: 16, 'arib-std-b67': 18, bt2020nc: 9, bt2020c: 10, bt709: 1 };

function hdrProperties(hdr: HdrKeep): string[] {
  const property = (name: string, value: number | undefined) =>
    value === undefined ? [] : [`<SupplementalProperty schemeIdUri="urn:mpeg:mpegB:cicp:${name}" value="${value}"/>`];
  return [...property('ColourPrimaries', CICP[hdr.colorprim]), ...property('TransferCharacteristics', CICP[hdr.transfer]), ...property('MatrixCoefficients', CICP[hdr.colormatrix])];
}

interface VideoSet {
  id: number;
  query: string;
  figures: ManifestFigures;
  properties?: string[];
  protection?: ManifestProtection | undefined;
}

function videoAdaptationSet(plan: Plan, renditions: VideoRendition[], { id, query, figures, properties = [], protection }: VideoSet): string {
  const frameRate = dashFrameRate(plan.frameRates);
  const maxWidth = Math.max(...renditions.map((r) => r.width));
  const maxHeight = Math.max(...renditions.map((r) => r.height));
  return [
    `<AdaptationSet id="${id}" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1" maxWidth="${maxWidth}" maxHeight="${maxHeight}" frameRate="${frameRate}" par="${maxWidth}:${maxHeight}">`,
    ...(protection ? dashContentProtection(protection, 'video') : []),
    ...properties,
    segmentTemplate(plan, 'video', plan.videoSegments, query),
    // Ordered by the plan's bounds, not by measurements, so the order never changes under a player.
    ...[...renditions]
      .sort((a, b) => a.peakBandwidth - b.peakBandwidth)
      .map((r) => `<Representation id="${r.id}" codecs="${r.codecs}" bandwidth="${figuresFor(figures.video, r.id).peak}" width="${r.width}" height="${r.height}" sar="1:1"/>`),
    '</AdaptationSet>',
  ].join('\n');
}

/** What an MPD carries beside the video and audio of the plan. */
export interface DashExtras {
  /** A text AdaptationSet each (manifest/subtitles.ts). */
  subtitles?: readonly SubtitleTrack[];
  /** AdaptationSets (the thumbnail track's, manifest/thumbnails.ts) given the first free AdaptationSet id. */
  images?: (id: number) => string;
  /** Protected content: ContentProtection in every video and audio set (manifest/protection.ts). */
  protection?: ManifestProtection | undefined;
}

/** `query` ("?exp=…&sig=…" for signed URLs, else "") is appended to every segment URL. */
export function dashManifest(plan: Plan, baseUrl = '', query = '', figures: ManifestFigures = manifestFigures(plan), extras: DashExtras = {}): string {
  const { subtitles = [], images, protection } = extras;
  const h264 = plan.renditions.filter((r) => !r.hevc);
  const hevc = plan.renditions.filter((r) => r.hevc);
  const video = videoAdaptationSet(plan, h264, { id: 0, query, figures, protection });
  // The HDR-keeping HEVC rendition in a set of its own (no seamless switch across codecs), after the audio sets.
  const hdrVideo =
    hevc.length > 0 ? [videoAdaptationSet(plan, hevc, { id: plan.audio.length + 1, query, figures, properties: hdrProperties(hevc[0]!.hevc!), protection })] : [];
  const maxSegment = Math.max(...plan.videoSegments.map((s) => s.duration)) / plan.timescale;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"${protection ? DASH_PROTECTION_NAMESPACES : ''} profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" ` +
      `mediaPresentationDuration="${isoDuration(plan.durationSeconds)}" maxSegmentDuration="${isoDuration(maxSegment)}" minBufferTime="PT2S">`,
    ...(baseUrl ? [`<BaseURL>${escapeXml(baseUrl)}</BaseURL>`] : []),
    '<Period id="0" start="PT0S">',
    video,
    ...plan.audio.map((audio, i) => audioAdaptationSet(plan, audio, i + 1, query, figures, protection)),
    ...hdrVideo,
    ...dashTextAdaptationSets(subtitles, plan.audio.length + 1 + hdrVideo.length, query),
    ...(images ? [images(plan.audio.length + 1 + hdrVideo.length + subtitles.length)] : []),
    '</Period>',
    '</MPD>',
    '',
  ].join('\n');
}
