/**
 * H.264 encoders: libx264, and the hardware ones FFmpeg may have (NVENC,
 * Quick Sync, VA-API, VideoToolbox). Which ones exist is read from
 * `ffmpeg -encoders`; which ones work is learned from a one-frame trial
 * encode at start-up (a GPU that is absent or fails to initialise fails the
 * trial). The origin uses the configured one, or in `auto` the first that
 * works, else libx264; after repeated failures at run time it stays on
 * libx264 (EncoderSelector).
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

/** Hardware setup before the input: decode on the device where the encoder can take its frames. */
export function hwInputArgs(encoder: VideoEncoderName): string[] {
  switch (encoder) {
    case 'h264_nvenc':
      return ['-hwaccel', 'cuda', '-hwaccel_output_format', 'cuda'];
    case 'h264_qsv':
      return ['-init_hw_device', 'qsv=hw', '-filter_hw_device', 'hw', '-hwaccel', 'qsv', '-hwaccel_output_format', 'qsv'];
    case 'h264_vaapi':
      return ['-init_hw_device', `vaapi=hw:${VAAPI_DEVICE}`, '-filter_hw_device', 'hw', '-hwaccel', 'vaapi', '-hwaccel_output_format', 'vaapi'];
    case 'h264_videotoolbox':
      return ['-hwaccel', 'videotoolbox'];
    default:
      return [];
  }
}

/**
 * The scaling step for a rendition, on the device the frames are on. A
 * decoder that cannot decode on the device hands over system memory, which
 * `hwupload` moves there first.
 */
export function scaleFilters(encoder: VideoEncoderName, width: number, height: number): string[] {
  switch (encoder) {
    case 'h264_nvenc':
      return [`scale_cuda=${width}:${height}:format=yuv420p`];
    case 'h264_qsv':
      return [`scale_qsv=w=${width}:h=${height}:format=nv12`];
    case 'h264_vaapi':
      return [`scale_vaapi=w=${width}:h=${height}:format=nv12`];
    case 'h264_videotoolbox':
      return [`scale=${width}:${height}:flags=bicubic`, 'format=nv12'];
    default:
      return [`scale=${width}:${height}:flags=bicubic`, 'format=yuv420p'];
  }
}

export interface RateControl {
  levelIdc: number;
  crf: number;
  maxrateKbps: number;
  bufsizeKbps: number;
}

/**
 * Encoder options. Every segment is encoded alone, so its first frame is an
 * IDR; each encoder is told not to place another keyframe inside the span
 * (no scene-cut keyframes, a GOP longer than any segment) and to keep GOPs
 * closed, since hardware encoders do not all honour -force_key_frames.
 */
export function encoderArgs(encoder: VideoEncoderName, rate: RateControl, x264: { preset: string; tune?: string; threads: number }): string[] {
  const common = ['-profile:v', 'high', '-level:v', String(rate.levelIdc / 10), '-maxrate', `${rate.maxrateKbps}k`, '-bufsize', `${rate.bufsizeKbps}k`, '-bf', '3'];
  const longGop = ['-g', '100000'];
  switch (encoder) {
    case 'h264_nvenc':
      return ['-c:v', 'h264_nvenc', '-preset', 'p5', '-tune', 'hq', '-rc', 'vbr', '-cq', String(rate.crf), '-b:v', '0', ...common, ...longGop,
        '-forced-idr', '1', '-strict_gop', '1', '-no-scenecut', '1', '-b_ref_mode', 'disabled'];
    case 'h264_qsv':
      return ['-c:v', 'h264_qsv', '-preset', 'medium', '-global_quality', String(rate.crf), ...common, ...longGop, '-idr_interval', '0', '-look_ahead', '0'];
    case 'h264_vaapi':
      return ['-c:v', 'h264_vaapi', '-rc_mode', 'QVBR', '-global_quality', String(rate.crf), '-b:v', `${rate.maxrateKbps}k`, ...common, ...longGop, '-idr_interval', '0'];
    case 'h264_videotoolbox':
      return ['-c:v', 'h264_videotoolbox', '-b:v', `${Math.round(rate.maxrateKbps * 0.8)}k`, ...common, ...longGop, '-allow_sw', '0', '-realtime', '0'];
    default:
      return [
        '-c:v', 'libx264', '-preset', x264.preset, ...(x264.tune ? ['-tune', x264.tune] : []), '-crf', String(rate.crf), ...common,
        // Closed GOPs: nothing in a segment refers to another segment. 8x8 transforms keep the stream
        // High profile under every preset (ultrafast turns them off and x264 would then signal Main),
        // so the CODECS the manifests declare before any encode is what the stream is.
        '-x264-params', 'open-gop=0:8x8dct=1',
        ...(x264.threads > 0 ? ['-threads', String(x264.threads)] : []),
      ];
  }
}

/** A one-frame encode on the device: fails when the encoder is listed but cannot run here. */
export function trialArgs(encoder: VideoEncoderName): string[] {
  const upload = encoder === 'h264_vaapi' || encoder === 'h264_qsv' ? ['-vf', 'format=nv12,hwupload'] : encoder === 'h264_nvenc' ? ['-vf', 'format=yuv420p'] : [];
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    ...(encoder === 'h264_vaapi' ? ['-init_hw_device', `vaapi=hw:${VAAPI_DEVICE}`, '-filter_hw_device', 'hw'] : []),
    ...(encoder === 'h264_qsv' ? ['-init_hw_device', 'qsv=hw', '-filter_hw_device', 'hw'] : []),
    '-f', 'lavfi', '-i', 'color=black:size=256x144:rate=25',
    '-frames:v', '1', ...upload, '-c:v', encoder, '-f', 'null', '-',
  ];
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
