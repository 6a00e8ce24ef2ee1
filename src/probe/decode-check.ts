/**
 * Proof that ffmpeg can play a source: the first frame of the chosen video
 * stream is decoded (and scaled to a few gray pixels, so the proof is a
 * fixed number of bytes). A file whose demuxer headers are fine but whose
 * pictures do not decode would otherwise get a 502 for every segment.
 *
 * It costs an ffmpeg start (~50-90 ms of CPU), so it is not on the manifest
 * path: the library runs it beside a content's first encode and answers 415
 * from then on when it fails (media-library.ts).
 */
import { ProcessError, run } from '../process/runner.js';
import { sourceInput } from '../process/source-input.js';
import { ProbeError } from './errors.js';
import { PROBE_BUDGET } from './limits.js';
import type { FirstPicture } from './mp4/first-picture.js';

const SIDE = 4;

const OUTPUT = ['-frames:v', '1', '-an', '-sn', '-dn', '-vf', `scale=${SIDE}:${SIDE},format=gray`, '-f', 'rawvideo', 'pipe:1'];
const BOUNDED = ['-v', 'error', '-nostdin', '-max_alloc', String(PROBE_BUDGET.toolMaxAllocBytes)];

/** The first frame of video stream `videoIndex`, read from the file by ffmpeg's own demuxer. */
export async function assertFirstFrameDecodes(path: string, videoIndex: number, deadline: number): Promise<void> {
  await decodeOneFrame([...BOUNDED, ...sourceInput(path), '-map', `0:v:${videoIndex}`, ...OUTPUT], deadline);
}

/**
 * The first keyframe the MP4 probe already located, fed to ffmpeg alone
 * (its parameter sets and NAL units): a constant ~50 ms, where reading the
 * file would make ffmpeg parse a long file's whole moov first.
 */
export async function assertPictureDecodes(picture: FirstPicture, deadline: number): Promise<void> {
  await decodeOneFrame([...BOUNDED, '-f', picture.codec, '-i', 'pipe:0', ...OUTPUT], deadline, picture.annexB);
}

/**
 * What it takes to check a probed source's first frame: the first keyframe
 * the MP4 probe located, or else the video stream's number (ffmpeg then
 * reads the file).
 */
export interface FirstFrameCheck {
  videoIndex: number;
  picture?: FirstPicture;
}

/** The check of `check`, on the file at `path` (which must be the probed one) when there is no picture. */
export async function assertFirstFrame(check: FirstFrameCheck, path: string, deadline: number): Promise<void> {
  if (check.picture) await assertPictureDecodes(check.picture, deadline);
  else await assertFirstFrameDecodes(path, check.videoIndex, deadline);
}

async function decodeOneFrame(args: string[], deadline: number, input?: Uint8Array): Promise<void> {
  let stdout: Uint8Array;
  let log: string;
  try {
    ({ stdout, log } = await run('ffmpeg', args, { timeoutMs: Math.max(1, deadline - Date.now()), ...(input ? { input } : {}) }));
  } catch (err) {
    if (err instanceof ProcessError && err.timedOut) throw new ProbeError('impossible', 'its first video frame did not decode within the probe budget', { cause: err });
    if (err instanceof ProcessError && err.exitCode !== undefined) {
      throw new ProbeError('impossible', `its first video frame does not decode: ${lastLine(err.log) || err.message}`, { cause: err });
    }
    throw err;
  }
  if (stdout.length !== SIDE * SIDE) throw new ProbeError('impossible', `its first video frame does not decode${lastLine(log) ? `: ${lastLine(log)}` : ''}`);
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}
