/**
 * Proof that ffmpeg can play a source before a manifest promises segments
 * of it: the first frame of the chosen video stream is decoded (and scaled
 * to a few gray pixels, so the proof is a fixed number of bytes). A file
 * whose demuxer headers are fine but whose pictures do not decode would
 * otherwise get a 200 manifest and a 502 for every segment.
 */
import { ProcessError, run } from '../process/runner.js';
import { sourceInput } from '../process/source-input.js';
import { ProbeError } from './errors.js';
import { PROBE_BUDGET } from './limits.js';

const SIDE = 4;

export async function assertFirstFrameDecodes(path: string, videoIndex: number, deadline: number): Promise<void> {
  const args = [
    '-v', 'error', '-nostdin', '-max_alloc', String(PROBE_BUDGET.toolMaxAllocBytes),
    ...sourceInput(path),
    '-map', `0:v:${videoIndex}`, '-frames:v', '1', '-an', '-sn', '-dn',
    '-vf', `scale=${SIDE}:${SIDE},format=gray`, '-f', 'rawvideo', 'pipe:1',
  ];
  let stdout: Uint8Array;
  let log: string;
  try {
    ({ stdout, log } = await run('ffmpeg', args, { timeoutMs: Math.max(1, deadline - Date.now()) }));
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
