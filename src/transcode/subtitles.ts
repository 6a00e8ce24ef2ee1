import { readFile } from 'node:fs/promises';
import type { SubtitleSource } from '../plan/subtitles.js';
import { run } from '../process/runner.js';
import { sourceInput, sourceUrl } from '../process/source-input.js';

/**
 * A whole subtitle track converted to WebVTT by ffmpeg, once per track: cue
 * times on the source's own timeline (`-copyts`, so they line up with the
 * plan's cuts), styling reduced by ffmpeg's WebVTT encoder to what WebVTT
 * carries (<b>, <i>, <u>; ASS positioning and colours are dropped).
 * Cutting into segments is pure code (package/webvtt.ts).
 */

/** ffmpeg demuxers of the sidecar formats (only these, and only the file protocol: a sidecar cannot make ffmpeg open anything else). */
const SIDECAR_DEMUXER = { srt: 'srt', vtt: 'webvtt', ass: 'ass' } as const;

/** Reading a whole file's subtitle stream reads the whole file (the demuxer interleaves it with the video). */
const EXTRACT_TIMEOUT_MS = 600_000;
const STALL_TIMEOUT_MS = 60_000;

export function extractArgs(source: SubtitleSource, inputPath: string, charset: string | undefined): string[] {
  const output = ['-c:s', 'webvtt', '-f', 'webvtt', 'pipe:1'];
  if (source.kind === 'stream') {
    return ['-hide_banner', '-nostdin', '-v', 'error', '-copyts', ...sourceInput(inputPath), '-map', `0:s:${source.index}`, ...output];
  }
  const demuxer = SIDECAR_DEMUXER[source.format];
  return [
    '-hide_banner', '-nostdin', '-v', 'error',
    '-protocol_whitelist', 'file', '-format_whitelist', demuxer, '-f', demuxer,
    ...(charset ? ['-sub_charenc', charset] : []),
    '-i', sourceUrl(inputPath), '-map', '0:s:0', ...output,
  ];
}

/**
 * Text files in the wild are often not UTF-8 (SubRip from Windows: CP-1252);
 * ffmpeg then needs to be told, or it drops the cues it cannot decode.
 */
async function sidecarCharset(filePath: string): Promise<string | undefined> {
  const bytes = await readFile(filePath);
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return undefined;
  } catch (err) {
    if (err instanceof TypeError) return 'CP1252';
    throw err;
  }
}

/** The track as WebVTT text. `inputPath`: the source (a path to the checked, open file) or the sidecar file. */
export async function extractWebVtt(source: SubtitleSource, inputPath: string): Promise<string> {
  const charset = source.kind === 'sidecar' ? await sidecarCharset(inputPath) : undefined;
  const { stdout } = await run('ffmpeg', extractArgs(source, inputPath, charset), { timeoutMs: EXTRACT_TIMEOUT_MS, stallTimeoutMs: STALL_TIMEOUT_MS });
  return Buffer.from(stdout).toString('utf8');
}
