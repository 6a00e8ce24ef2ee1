import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Subtitle files beside a video: for "film.mkv", "film.srt", "film.en.srt",
 * "film.fre.forced.srt", "film.de.sdh.vtt", "film.ja.default.ass". The words
 * between the video's name and the extension give the language (an ISO 639
 * code of 2 or 3 letters) and flags (forced, default, sdh/cc/hi); any other
 * word becomes the track's title. Only regular files in the video's own
 * directory count (a symlink could lead out of the media root).
 */

export type SidecarFormat = 'srt' | 'vtt' | 'ass';

export interface SidecarSubtitle {
  /** File name in the video's directory. */
  file: string;
  format: SidecarFormat;
  language: string;
  title?: string;
  isDefault: boolean;
  isForced: boolean;
  isHearingImpaired: boolean;
  /** Names this version of the file (name, size, mtime, inode): part of its track id, so a changed file gets new URLs. */
  stamp: string;
}

const FORMATS: Record<string, SidecarFormat> = { '.srt': 'srt', '.vtt': 'vtt', '.webvtt': 'vtt', '.ass': 'ass', '.ssa': 'ass' };
/** A folder of thousands of files beside one video is not a subtitle set. */
const MAX_SIDECARS = 32;
/** A subtitle file is text: a few hundred KB for a film; more is not a subtitle file. */
export const MAX_SIDECAR_BYTES = 16 * 1024 * 1024;

/** The sidecars of a video (absolute path), in name order. */
export async function findSidecars(videoPath: string): Promise<SidecarSubtitle[]> {
  const dir = path.dirname(videoPath);
  const stem = path.basename(videoPath, path.extname(videoPath));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    // The directory went away or cannot be listed: no sidecars (the video itself is checked elsewhere).
    if (['ENOENT', 'EACCES', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return [];
    throw err;
  }
  const found: SidecarSubtitle[] = [];
  for (const file of names.sort()) {
    if (found.length >= MAX_SIDECARS) break;
    const format = FORMATS[path.extname(file).toLowerCase()];
    if (!format || !file.startsWith(`${stem}.`)) continue;
    const info = await lstat(path.join(dir, file)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!info?.isFile() || info.size === 0 || info.size > MAX_SIDECAR_BYTES) continue;
    const words = file.slice(stem.length + 1, file.length - path.extname(file).length).split('.').filter(Boolean);
    found.push({ file, format, stamp: sidecarStamp(file, info), ...sidecarFlags(words) });
  }
  return found;
}

/** The version of a sidecar file: its name, size, mtime and inode. */
export function sidecarStamp(file: string, info: { size: number; mtimeMs: number; ino: number }): string {
  return createHash('sha256').update(`${file}\0${info.size}\0${info.mtimeMs}\0${info.ino}`).digest('hex').slice(0, 16);
}

/** Language, flags and title from the words of a sidecar's name ("fre", "forced"). */
export function sidecarFlags(words: readonly string[]): Pick<SidecarSubtitle, 'language' | 'title' | 'isDefault' | 'isForced' | 'isHearingImpaired'> {
  let language = 'und';
  const rest: string[] = [];
  const flags = { isDefault: false, isForced: false, isHearingImpaired: false };
  for (const word of words) {
    const lower = word.toLowerCase();
    if (lower === 'forced') flags.isForced = true;
    else if (lower === 'default') flags.isDefault = true;
    else if (lower === 'sdh' || lower === 'cc' || lower === 'hi') flags.isHearingImpaired = true;
    else if (language === 'und' && /^[a-z]{2,3}(-[a-z0-9]{2,8})?$/.test(lower)) language = lower;
    else rest.push(word);
  }
  return { language, ...(rest.length > 0 ? { title: rest.join(' ') } : {}), ...flags };
}
