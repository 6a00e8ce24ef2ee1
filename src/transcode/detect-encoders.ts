import { ProcessError, run } from '../process/runner.js';
import { trialArgs } from './encoder-args.js';
import { HW_ENCODERS, listedEncoders, type EncoderDetection, type VideoEncoderName } from './encoders.js';

/** One detection per ffmpeg binary in a process (servers in one process share the machine). */
const detections = new Map<string, Promise<EncoderDetection>>();

/**
 * Which hardware H.264 encoders this machine's ffmpeg lists, and which of
 * them actually work (a one-frame trial encode each, run once at start-up).
 */
export function detectEncoders(): Promise<EncoderDetection> {
  const binary = process.env.JITSEG_FFMPEG ?? 'ffmpeg';
  let detection = detections.get(binary);
  if (!detection) detections.set(binary, (detection = detect()));
  return detection;
}

async function detect(): Promise<EncoderDetection> {
  let listing = '';
  try {
    listing = Buffer.from((await run('ffmpeg', ['-hide_banner', '-encoders'], { timeoutMs: 20_000 })).stdout).toString('utf8');
  } catch {
    // No usable listing: no hardware encoder either; libx264 problems show on the first encode.
  }
  const names = listedEncoders(listing);
  const listed = Object.values(HW_ENCODERS).filter((e) => names.has(e));
  const working: VideoEncoderName[] = [];
  const failures: EncoderDetection['failures'] = {};
  for (const encoder of listed) {
    try {
      await run('ffmpeg', trialArgs(encoder), { timeoutMs: 20_000 });
      working.push(encoder);
    } catch (err) {
      const log = err instanceof ProcessError ? err.log.trim().split('\n').pop() : undefined;
      failures[encoder] = log || (err as Error).message;
    }
  }
  return { listed, working, failures };
}
