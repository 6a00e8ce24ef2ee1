import type { Content } from '../library/media-library.js';
import type { ContentSubtitles } from '../subtitles/service.js';
import type { AppDeps } from './deps.js';

/** What manifests offer of a content's subtitles: none when the app has no subtitle service. */
export async function offeredSubtitles(deps: AppDeps, content: Content): Promise<ContentSubtitles> {
  return deps.subtitles ? deps.subtitles.subtitlesOf(content) : { tracks: [], notOffered: [], fingerprint: '' };
}

/** The /info fields: every offered track, and every track not offered with the reason. */
export async function subtitleInfo(deps: AppDeps, content: Content) {
  const { tracks, notOffered } = await offeredSubtitles(deps, content);
  return {
    subtitles: tracks.map(({ id, language, name, isDefault, isForced, isHearingImpaired, source }) => ({
      id, language, name, isDefault, isForced, isHearingImpaired, format: 'webvtt',
      source: source.kind === 'stream' ? { kind: 'stream', index: source.index, codec: source.codec } : { kind: 'sidecar', file: source.file, format: source.format },
    })),
    subtitlesNotOffered: notOffered,
  };
}
