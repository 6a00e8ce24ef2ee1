import { VAAPI_DEVICE, type VideoEncoderName } from './encoders.js';

/**
 * The encoder-specific parts of a video encode's command line: where frames
 * are decoded, how they are scaled, and the encoder's own options.
 */

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
export function encoderArgs(encoder: VideoEncoderName, rate: RateControl, x264: { preset: string; tune?: string }): string[] {
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
        // One encoder thread, always: x264's output depends on its thread count (auto is 1.5 × the
        // CPUs), and with VBV (-maxrate) and more than one thread, frame or slice, it differs from
        // run to run. One URL must always carry the same bytes, on any machine, after any retry.
        '-threads', '1',
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
