/**
 * One probe, start to finish, in the current thread: learn the source's
 * tracks and exact frame timeline, check the result against the limits and
 * check that its first frame decodes, or hand that check back (the server
 * runs it with the first encode). The server runs this in a worker thread
 * (pool.ts); tests and benches may call it directly.
 *
 * MP4/MOV/M4V go through the moov-only fast path (tens of milliseconds, even
 * for hours of video). Anything that path cannot handle — other containers,
 * fragmented MP4, a missing moov, a broken sample table — goes to ffprobe,
 * which is slower (it reads the whole file) but is the reference anyway. A
 * file the fast path finds impossible (claims its bytes cannot back, an edit
 * list presenting nothing) is refused at once: ffmpeg cannot read it either.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { extname } from 'node:path';
import type { ProbeResult } from './types.js';
import { ProbeError } from './errors.js';
import { PROBE_BUDGET } from './limits.js';
import { probeOpenMp4WithPicture, readHead, type FirstPicture } from './mp4.js';
import { probeWithFfprobe } from './ffprobe.js';
import { probeSubtitleStreams } from './subtitle-streams.js';
import { assertStreamable } from './validate.js';
import { assertFirstFrame, type FirstFrameCheck } from './decode-check.js';
import { needsFrameColour, withFrameColour } from './frame-colour.js';

const ISO_BMFF_EXTENSIONS = new Set(['.mp4', '.mov', '.m4v']);

export interface ProbeOptions {
  /** Date.now() value by which the probe must be done (tools are killed then); default: PROBE_BUDGET.timeMs from now. */
  deadline?: number;
  /** Decode the first video frame to prove ffmpeg can (default true). */
  decodeCheck?: boolean;
}

export async function probeFile(path: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const deadline = options.deadline ?? Date.now() + PROBE_BUDGET.timeMs;
  const { probe, firstFrame } = await probeFileDeferred(path, deadline);
  if (options.decodeCheck !== false) await assertFirstFrame(firstFrame, path, deadline);
  return probe;
}

/** The probe, and what its first-frame decode check (decode-check.ts) takes, for the caller to run when it chooses. */
export async function probeFileDeferred(path: string, deadline: number): Promise<{ probe: ProbeResult; firstFrame: FirstFrameCheck }> {
  const fast = await probeWithFastPath(path);
  const tracks = fast?.probe ?? (await probeWithFfprobe(path, deadline));
  const probe = assertStreamable(needsFrameColour(tracks) ? await withFrameColour(tracks, path, deadline) : tracks);
  if (fast?.textTracks) probe.subtitles = await probeSubtitleStreams(path, deadline);
  return { probe, firstFrame: { videoIndex: probe.video.index, ...(fast?.firstPicture ? { picture: fast.firstPicture } : {}) } };
}

/** The MP4 fast path's result; undefined when the file is for ffprobe. */
async function probeWithFastPath(path: string): Promise<{ probe: ProbeResult; firstPicture: FirstPicture | undefined; textTracks: boolean } | undefined> {
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
    if (!looksIsoBmff && !ISO_BMFF_EXTENSIONS.has(extname(path).toLowerCase())) return undefined;
    try {
      return await probeOpenMp4WithPicture(fh, path, head);
    } catch (err) {
      // Unreadable, or impossible (claims its bytes cannot back, an edit list presenting nothing): ffprobe would not do better.
      if (err instanceof ProbeError) throw err;
      // Anything else (no moov, fragmented, no video track, unexpected table
      // layout, even a parser exception) is a reason to ask ffprobe, which
      // also produces the definitive ProbeError if the file is not a video.
      return undefined;
    }
  } finally {
    await fh.close();
  }
}
