import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { AudioRendition, Plan, VideoRendition } from '../plan/plan.js';
import { AAC_FRAME_SAMPLES } from '../plan/plan.js';
import { packageSpan, type SpanEncryption } from '../package/package.js';
import { ProcessError, run } from '../process/runner.js';
import { splitAdtsFrames } from './adts.js';
import { audioPipeEncodeArgs, audioRemuxArgs, type VideoEncodeOptions } from './ffmpeg-args.js';
import { encodeVideoSpan, SpanError, type SpanLimits } from './transcode.js';

/**
 * An init segment from a few frames: a rendition's init carries its sample
 * description (stsd: avcC with SPS/PPS, picture size; AudioSpecificConfig)
 * and a default sample duration (trex), nothing a whole segment's encode is
 * needed for. The frames go through the command lines every segment uses and
 * Shaka Packager as every segment does. Every segment's stsd is then checked
 * against the init (validate.ts sameSampleDescription) before it is stored:
 * a difference is a failed segment, never a stream a player cannot decode.
 */

/**
 * Frames of the first segment a video init is encoded from. x264's SPS/PPS
 * were measured the same for 1, 2, 3 frames and whole segments (CFR, VFR,
 * B-pyramid, edit list, non-zero start; veryfast and ultrafast). Three because
 * Shaka Packager writes no media from one or two frames when the first is
 * large (END_OF_STREAM; a 1080p noise source at 480p, 720p and 1080p), and
 * trex's default duration is the first frame's, which one frame cannot tell
 * it (it writes 90 ticks then).
 */
export const INIT_VIDEO_FRAMES = 3;
/** AAC frames of silence an audio init is encoded from: its AudioSpecificConfig says only profile, rate and channels. */
export const INIT_AUDIO_FRAMES = 2;

export interface PackagedInit {
  init: Uint8Array;
  log: string;
}

/**
 * The first frames of the source's first segment, with the rendition's
 * encoder and settings, packaged. Should the packager still refuse so short a
 * stream, the whole first segment is encoded instead: its init is the same
 * (trex is segment 1's first frame's duration either way), so the bytes do
 * not depend on which path ran.
 */
export async function packageVideoInit(
  sourcePath: string,
  plan: Plan,
  rendition: VideoRendition,
  workDir: string,
  options: Omit<VideoEncodeOptions, 'frames'>,
  limits: SpanLimits = {},
  encryption?: SpanEncryption,
): Promise<PackagedInit> {
  const segment = plan.videoSegments[0]!;
  const short = await encodeVideoSpan(sourcePath, plan, rendition, segment, workDir, { ...options, frames: INIT_VIDEO_FRAMES }, limits);
  try {
    const packaged = await packageSpan(short.tsPath, 'video', workDir, limits, encryption);
    return { init: packaged.init, log: short.log + packaged.log };
  } catch (err) {
    if (!(err instanceof ProcessError && err.tool === 'packager')) throw err;
    const wholeDir = path.join(workDir, 'whole-segment');
    await mkdir(wholeDir);
    const whole = await encodeVideoSpan(sourcePath, plan, rendition, segment, wholeDir, options, limits);
    const packaged = await packageSpan(whole.tsPath, 'video', wholeDir, limits, encryption);
    return { init: packaged.init, log: `${short.log}${err.log}\n--- the packager refused ${INIT_VIDEO_FRAMES} frames: the whole first segment\n${whole.log}${packaged.log}` };
  }
}

/**
 * A few frames of silence through the rendition's AAC encode and remux (the
 * command lines every segment uses), placed at its first segment's start,
 * packaged. The source is not read: nothing in it reaches the
 * AudioSpecificConfig (the rate and channel count are the rendition's).
 */
export async function packageAudioInit(audio: AudioRendition, workDir: string, limits: SpanLimits = {}, encryption?: SpanEncryption): Promise<PackagedInit> {
  const pcm = Buffer.alloc(INIT_AUDIO_FRAMES * AAC_FRAME_SAMPLES * 4 * audio.channels);
  const encoded = await run('ffmpeg', audioPipeEncodeArgs(audio), { ...limits, input: pcm });
  const frames = splitAdtsFrames(encoded.stdout);
  if (frames.length === 0) throw new SpanError('the AAC encoder wrote no frames for the init segment', encoded.log);
  const tsPath = path.join(workDir, 'audio.ts');
  const remux = await run('ffmpeg', audioRemuxArgs(audio.segments[0]!, tsPath), { ...limits, input: Buffer.concat(frames) });
  const packaged = await packageSpan(tsPath, 'audio', workDir, limits, encryption);
  return { init: packaged.init, log: encoded.log + remux.log + packaged.log };
}
