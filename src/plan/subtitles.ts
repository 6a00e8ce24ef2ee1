import { createHash } from 'node:crypto';
import type { SidecarFormat, SidecarSubtitle } from '../probe/sidecars.js';
import type { SubtitleStreamProbe } from '../probe/types.js';

/**
 * Which subtitle tracks a content offers, and which it does not and why:
 * text tracks (inside the file, or sidecar files beside it) are offered as
 * WebVTT; image tracks (PGS, VobSub, DVB) are not, since WebVTT carries text
 * and their pictures would need OCR or burning into the video.
 */

/** Bump when the WebVTT made from a track changes (extraction or cutting); it is part of every track id. */
export const SUBTITLE_FORMAT_VERSION = 1;

/** ffmpeg codecs whose cues ffmpeg's WebVTT encoder converts (styling reduced to <b>, <i>, <u>). */
const TEXT_CODECS = new Set(['subrip', 'srt', 'ass', 'ssa', 'mov_text', 'webvtt', 'text']);
const IMAGE_CODECS: Record<string, string> = {
  hdmv_pgs_subtitle: 'PGS',
  dvd_subtitle: 'VobSub',
  dvb_subtitle: 'DVB',
  xsub: 'XSUB',
};
/** More tracks than this in one file is not a real film's subtitle set (offered, and listed as not offered, each). */
const MAX_TRACKS = 64;

export type SubtitleSource =
  | { kind: 'stream'; index: number; codec: string }
  | { kind: 'sidecar'; file: string; format: SidecarFormat; stamp: string };

export interface SubtitleTrack {
  /** URL-safe, and names exactly the WebVTT served under it (source, version of a sidecar, format version). */
  id: string;
  /** ISO 639 code as the source gives it, "und" when unknown. */
  language: string;
  /** Unique among the content's tracks (HLS NAME must be). */
  name: string;
  isDefault: boolean;
  isForced: boolean;
  isHearingImpaired: boolean;
  source: SubtitleSource;
}

export interface SubtitleNotOffered {
  index: number;
  codec: string;
  language: string;
  title?: string;
  reason: string;
}

export interface SubtitlePlan {
  tracks: SubtitleTrack[];
  notOffered: SubtitleNotOffered[];
}

const shortHash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 10);

const languageNames = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' });

function displayName(language: string): string | undefined {
  if (language === 'und') return undefined;
  try {
    return languageNames.of(language);
  } catch (err) {
    // Not a well-formed language tag (a container may hold anything there): no display name.
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

function baseName(t: { title?: string; language: string; isForced: boolean; isHearingImpaired: boolean }, ordinal: number): string {
  if (t.title) return t.title;
  const name = displayName(t.language) ?? (t.language !== 'und' ? t.language : `Subtitles ${ordinal}`);
  return `${name}${t.isForced ? ' (forced)' : ''}${t.isHearingImpaired ? ' (SDH)' : ''}`;
}

export function planSubtitles(streams: readonly SubtitleStreamProbe[], sidecars: readonly SidecarSubtitle[]): SubtitlePlan {
  const tracks: SubtitleTrack[] = [];
  const notOffered: SubtitleNotOffered[] = [];
  for (const s of streams) {
    const image = IMAGE_CODECS[s.codec];
    if (image || !TEXT_CODECS.has(s.codec)) {
      const reason = image
        ? `${image} subtitles are pictures; WebVTT carries text, so they would need OCR or burning into the video`
        : `the ${s.codec} subtitle codec is not converted to WebVTT`;
      if (notOffered.length < MAX_TRACKS) notOffered.push({ index: s.index, codec: s.codec, language: s.language, ...(s.title ? { title: s.title } : {}), reason });
      continue;
    }
    if (tracks.length >= MAX_TRACKS) continue;
    const source: SubtitleSource = { kind: 'stream', index: s.index, codec: s.codec };
    tracks.push({ id: `s${s.index}-${shortHash([source, SUBTITLE_FORMAT_VERSION])}`, ...flags(s), name: baseName(s, tracks.length + 1), source });
  }
  for (const c of sidecars) {
    if (tracks.length >= MAX_TRACKS) break;
    const source: SubtitleSource = { kind: 'sidecar', file: c.file, format: c.format, stamp: c.stamp };
    tracks.push({ id: `f-${shortHash([source, SUBTITLE_FORMAT_VERSION])}`, ...flags(c), name: baseName(c, tracks.length + 1), source });
  }
  // At most one default (HLS allows one DEFAULT=YES per group): the first flagged.
  let sawDefault = false;
  for (const t of tracks) {
    if (t.isDefault && sawDefault) t.isDefault = false;
    sawDefault ||= t.isDefault;
  }
  uniqueNames(tracks);
  return { tracks, notOffered };
}

const flags = (t: { language: string; isDefault: boolean; isForced: boolean; isHearingImpaired: boolean }) => ({
  language: t.language,
  isDefault: t.isDefault,
  isForced: t.isForced,
  isHearingImpaired: t.isHearingImpaired,
});

/** "English", "English" → "English", "English 2". */
function uniqueNames(tracks: SubtitleTrack[]): void {
  const seen = new Set<string>();
  for (const t of tracks) {
    let name = t.name;
    for (let n = 2; seen.has(name); n++) name = `${t.name} ${n}`;
    t.name = name;
    seen.add(name);
  }
}
