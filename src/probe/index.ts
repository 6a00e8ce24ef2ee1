/**
 * Probe stage entry point: learn a source's tracks and exact frame timeline.
 *
 * MP4/MOV/M4V go through the moov-only fast path (tens of milliseconds, even
 * for hours of video). Anything that path cannot handle — other containers,
 * fragmented MP4, a missing moov, a broken sample table — goes to ffprobe,
 * which is slower (it reads the whole file) but is the reference anyway.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { extname } from 'node:path';
import type { ProbeResult } from './types.js';
import { ProbeError } from './errors.js';
import { probeOpenMp4, readHead } from './mp4.js';
import { probeWithFfprobe } from './ffprobe.js';

export type { ProbeResult, VideoTrackProbe, AudioTrackProbe } from './types.js';
export { ProbeError, isProbeError, type ProbeErrorKind } from './errors.js';
export { probeMp4, Mp4ProbeUnsupportedError } from './mp4.js';
export { probeWithFfprobe } from './ffprobe.js';

const ISO_BMFF_EXTENSIONS = new Set(['.mp4', '.mov', '.m4v']);

export async function probeSource(path: string): Promise<ProbeResult> {
  // One open for the sniff and the MP4 probe: the head read here is the MP4 probe's first read.
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new ProbeError('unreadable', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    let head: Buffer;
    try {
      head = await readHead(fh);
    } catch (err) {
      throw new ProbeError('unreadable', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (head.length === 0) throw new ProbeError('not-media', 'empty file');

    const looksIsoBmff = head.length >= 8 && head.toString('latin1', 4, 8) === 'ftyp';
    if (looksIsoBmff || ISO_BMFF_EXTENSIONS.has(extname(path).toLowerCase())) {
      try {
        return await probeOpenMp4(fh, path, head);
      } catch (err) {
        // The file vanished or became unreadable: ffprobe would not do better.
        if (err instanceof ProbeError && err.kind === 'unreadable') throw err;
        // Anything else (no moov, fragmented, no video track, unexpected table
        // layout, even a parser exception) is a reason to ask ffprobe, which
        // also produces the definitive ProbeError if the file is not a video.
      }
    }
  } finally {
    await fh.close();
  }
  return probeWithFfprobe(path);
}
