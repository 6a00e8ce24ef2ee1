import { run } from '../process/runner.js';
import { sourceInput } from '../process/source-input.js';
import type { SubtitleStreamProbe } from './types.js';

/**
 * The subtitle streams of a source, as ffmpeg numbers them (`-map 0:s:N`),
 * from ffprobe's stream list: codec, language, title and the default,
 * forced and hearing-impaired flags. The ffprobe path has that list
 * already; the MP4 fast path asks ffprobe for it only when the moov holds a
 * text track (one header read, tens of milliseconds).
 */

export interface FfprobeSubtitleStream {
  codec_type?: string;
  codec_name?: string;
  disposition?: Record<string, number>;
  tags?: Record<string, string>;
}

/** MP4 track handlers whose tracks ffmpeg may take for subtitles (tx3g, QuickTime text, VobSub, closed captions). */
export const MP4_TEXT_HANDLERS: ReadonlySet<string> = new Set(['sbtl', 'text', 'subt', 'subp', 'clcp']);

const tagOf = (s: FfprobeSubtitleStream, name: string) => {
  const tags = s.tags ?? {};
  const key = Object.keys(tags).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : tags[key];
};

export function subtitleStreams(streams: readonly FfprobeSubtitleStream[]): SubtitleStreamProbe[] {
  return streams
    .filter((s) => s.codec_type === 'subtitle')
    .map((s, index) => {
      const language = tagOf(s, 'language')?.trim().toLowerCase();
      const title = tagOf(s, 'title')?.trim();
      return {
        index,
        codec: s.codec_name ?? 'unknown',
        language: language && language !== 'und' ? language : 'und',
        ...(title ? { title } : {}),
        isDefault: s.disposition?.default === 1,
        isForced: s.disposition?.forced === 1,
        isHearingImpaired: s.disposition?.hearing_impaired === 1,
      };
    });
}

/** The subtitle streams of a file, from an ffprobe of its header. */
export async function probeSubtitleStreams(path: string, deadline: number): Promise<SubtitleStreamProbe[]> {
  const args = ['-v', 'error', '-select_streams', 's', '-show_entries', 'stream=codec_type,codec_name:stream_disposition:stream_tags', '-of', 'json', ...sourceInput(path)];
  const { stdout } = await run('ffprobe', args, { timeoutMs: Math.max(1_000, deadline - Date.now()) });
  const parsed = JSON.parse(Buffer.from(stdout).toString('utf8')) as { streams?: FfprobeSubtitleStream[] };
  return subtitleStreams(parsed.streams ?? []);
}
