/**
 * H.264 encoders: libx264, and the hardware ones FFmpeg may have (NVENC,
 * Quick Sync, VA-API, VideoToolbox). Which ones exist is read from
 * `ffmpeg -encoders`; which ones work is learned from a one-frame trial
 * encode at start-up (a GPU that is absent or fails to initialise fails the
 * trial). The origin uses the configured one, or in `auto` the first that
 * works, else libx264; after repeated failures at run time it stays on
 * libx264 (EncoderSelector). Their command lines are in encoder-args.ts.
 */

export type Hwaccel = 'nvenc' | 'qsv' | 'vaapi' | 'videotoolbox';
export type HwaccelSetting = 'auto' | 'none' | Hwaccel;
export type VideoEncoderName = 'libx264' | 'h264_nvenc' | 'h264_qsv' | 'h264_vaapi' | 'h264_videotoolbox';

export const HW_ENCODERS: Record<Hwaccel, VideoEncoderName> = {
  nvenc: 'h264_nvenc',
  qsv: 'h264_qsv',
  vaapi: 'h264_vaapi',
  videotoolbox: 'h264_videotoolbox',
};

/** Preference in `auto`: the fastest and most common first. */
const AUTO_ORDER: Hwaccel[] = ['nvenc', 'qsv', 'vaapi', 'videotoolbox'];

export const VAAPI_DEVICE = '/dev/dri/renderD128';

export const isHardware = (encoder: VideoEncoderName) => encoder !== 'libx264';

/** Encoder names in `ffmpeg -encoders` output (" V....D h264_nvenc  NVIDIA NVENC H.264 encoder"). */
export function listedEncoders(output: string): Set<string> {
  const names = new Set<string>();
  for (const line of output.split('\n')) {
    const m = /^\s*[VAS][A-Z.]{5}\s+(\S+)/.exec(line);
    if (m) names.add(m[1]!);
  }
  return names;
}

export interface EncoderDetection {
  /** Hardware encoders this ffmpeg lists. */
  listed: VideoEncoderName[];
  /** …of which the trial encode worked. */
  working: VideoEncoderName[];
  /** Why each listed one that does not work failed. */
  failures: Partial<Record<VideoEncoderName, string>>;
}

/** The encoder to use for a setting, given what works. */
export function chooseEncoder(setting: HwaccelSetting, detection: EncoderDetection): { encoder: VideoEncoderName; note: string } {
  if (setting === 'none') return { encoder: 'libx264', note: 'hardware encoding disabled in the config' };
  if (setting !== 'auto') {
    const wanted = HW_ENCODERS[setting];
    if (detection.working.includes(wanted)) return { encoder: wanted, note: `${setting} as configured` };
    const why = detection.failures[wanted] ?? 'not in this ffmpeg';
    return { encoder: 'libx264', note: `${setting} was configured but does not work here (${why}): using libx264` };
  }
  for (const hw of AUTO_ORDER) {
    if (detection.working.includes(HW_ENCODERS[hw])) return { encoder: HW_ENCODERS[hw], note: `${hw} found and working` };
  }
  return { encoder: 'libx264', note: detection.listed.length ? 'no listed hardware encoder works here: using libx264' : 'no hardware encoder: using libx264' };
}

/** Hardware failures in a row after which the origin stays on libx264. */
export const HW_FAILURES_TO_DISABLE = 3;

/**
 * The encoder in use, and the fallback when it fails: each hardware failure
 * is counted; after HW_FAILURES_TO_DISABLE in a row the origin stays on
 * libx264 until restarted. A success resets the count.
 */
export class EncoderSelector {
  private consecutiveFailures = 0;
  private totalFailures = 0;
  private disabledReason: string | undefined;

  constructor(
    readonly detection: EncoderDetection,
    readonly chosen: VideoEncoderName,
    readonly note: string,
  ) {}

  /** What new renditions are encoded with now. */
  get current(): VideoEncoderName {
    return this.disabledReason ? 'libx264' : this.chosen;
  }

  hardwareFailed(reason: string): void {
    this.totalFailures++;
    if (++this.consecutiveFailures >= HW_FAILURES_TO_DISABLE && !this.disabledReason) {
      this.disabledReason = `${this.chosen} failed ${this.consecutiveFailures} times in a row (last: ${reason})`;
    }
  }

  hardwareSucceeded(): void {
    this.consecutiveFailures = 0;
  }

  report() {
    return {
      listed: this.detection.listed,
      working: this.detection.working,
      failures: this.detection.failures,
      chosen: this.chosen,
      inUse: this.current,
      note: this.disabledReason ? `stayed on libx264: ${this.disabledReason}` : this.note,
      hardwareFailures: this.totalFailures,
    };
  }
}
