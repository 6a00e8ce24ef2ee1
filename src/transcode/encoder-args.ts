import { VAAPI_DEVICE, type VideoEncoderName } from './encoders.js';

/**
 * The encoder-specific parts of a video encode's command line: where frames
 * are decoded, how they are scaled, and the encoder's own options. Every
 * option and value here is checked against this machine's ffmpeg (its option
 * tables, and a real parse of the filter chains and encoder options) in
 * test/hwaccel.test.ts.
 */

/** The name the hardware device gets on the command line (decoder, filters and encoder share it). */
export const HW_DEVICE_NAME = 'gpu';

/** How frames reach a device-side scaler: the device type, and the pixel format of frames on it. */
interface Device {
  type: 'cuda' | 'qsv' | 'vaapi';
  /** `-init_hw_device` argument. */
  spec: string;
  /** The hardware pixel format of decoded frames that stay on the device. */
  hwFormat: string;
}

const DEVICES: Partial<Record<VideoEncoderName, Device>> = {
  h264_nvenc: { type: 'cuda', spec: `cuda=${HW_DEVICE_NAME}`, hwFormat: 'cuda' },
  h264_qsv: { type: 'qsv', spec: `qsv=${HW_DEVICE_NAME}`, hwFormat: 'qsv' },
  h264_vaapi: { type: 'vaapi', spec: `vaapi=${HW_DEVICE_NAME}:${VAAPI_DEVICE}`, hwFormat: 'vaapi' },
};

/**
 * QSV frame pools have a fixed size ("QSV requires a fixed frame pool size"):
 * hwupload must be told how many frames beyond its own two to allocate.
 * 64 is the figure FFmpeg's and Intel's QSV guides use.
 */
export const QSV_UPLOAD_EXTRA_FRAMES = 64;

/**
 * Hardware setup before the input: one named device, used by the decoder
 * (when it can decode this codec on the device), by hwupload and by the
 * encoder. VideoToolbox decodes on the device and hands frames back in
 * system memory; its encoder uploads them itself.
 */
export function hwInputArgs(encoder: VideoEncoderName): string[] {
  if (encoder === 'h264_videotoolbox') return ['-hwaccel', 'videotoolbox'];
  const device = DEVICES[encoder];
  if (!device) return [];
  return [
    '-init_hw_device', device.spec, '-filter_hw_device', HW_DEVICE_NAME,
    '-hwaccel', device.type, '-hwaccel_device', HW_DEVICE_NAME, '-hwaccel_output_format', device.hwFormat,
  ];
}

/**
 * The scaling step for a rendition, on the device the encoder takes frames
 * from. A source the device cannot decode (FFV1, 4:4:4, 10-bit H.264 under
 * CUDA, …) arrives in system memory in whatever format its decoder makes:
 * `format=nv12|<hw>` converts such frames to NV12 and lets device frames
 * through untouched, and hwupload uploads the former and passes the latter.
 */
export function scaleFilters(encoder: VideoEncoderName, width: number, height: number): string[] {
  const device = DEVICES[encoder];
  const toDevice = device ? [`format=nv12|${device.hwFormat}`, uploadFilter(encoder)] : [];
  switch (encoder) {
    case 'h264_nvenc':
      return [...toDevice, `scale_cuda=w=${width}:h=${height}:format=yuv420p`];
    case 'h264_qsv':
      // -idr_interval 0: an I-frame the driver inserts is an IDR (it does not stop the insertion); no look-ahead rate control.
      return [...toDevice, `scale_qsv=w=${width}:h=${height}:format=nv12`];
    case 'h264_vaapi':
      return [...toDevice, `scale_vaapi=w=${width}:h=${height}:format=nv12`];
    case 'h264_videotoolbox':
      return [`scale=w=${width}:h=${height}:flags=bicubic`, 'format=nv12'];
    default:
      return [`scale=w=${width}:h=${height}:flags=bicubic`, 'format=yuv420p'];
  }
}

/** The upload onto the encoder's device (frames already there pass through). */
function uploadFilter(encoder: VideoEncoderName): string {
  return encoder === 'h264_qsv' ? `hwupload=extra_hw_frames=${QSV_UPLOAD_EXTRA_FRAMES}` : 'hwupload';
}

export interface RateControl {
  levelIdc: number;
  crf: number;
  maxrateKbps: number;
  bufsizeKbps: number;
}

/**
 * Encoder options. Every segment is encoded alone, so its first frame is an
 * IDR. The level is passed as its level_idc integer (41 for 4.1): the one
 * spelling every encoder reads right (QSV has no level option of its own and
 * takes the generic integer, which would round "4.1" down to 4; VideoToolbox
 * names 4.0 "4.0", not "4"; x264 reads numbers of 7 and more as level_idc).
 */
export function encoderArgs(encoder: VideoEncoderName, rate: RateControl, x264: { preset: string; tune?: string }): string[] {
  const common = ['-profile:v', 'high', '-level:v', String(rate.levelIdc), '-maxrate', `${rate.maxrateKbps}k`, '-bufsize', `${rate.bufsizeKbps}k`, '-bf', '3', ...NO_CAPTIONS[encoder]];
  // Hardware encoders: a GOP longer than any segment, so none places a periodic keyframe inside one.
  const longGop = ['-g', '100000'];
  switch (encoder) {
    case 'h264_nvenc':
      // No -rc-lookahead, so NVENC inserts no scene-cut I-frames; -no-scenecut keeps it so if lookahead is ever enabled.
      return ['-c:v', 'h264_nvenc', '-preset', 'p5', '-tune', 'hq', '-rc', 'vbr', '-cq', String(rate.crf), '-b:v', '0', ...common, ...longGop,
        '-no-scenecut', '1', '-b_ref_mode', 'disabled'];
    case 'h264_qsv':
      // -idr_interval 0: an I-frame the driver inserts is an IDR (it does not stop the insertion); no look-ahead rate control.
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

/**
 * Source CEA-608/708 captions (A/53 side data of decoded frames) are not
 * written into the output: the manifests declare CLOSED-CAPTIONS=NONE, and
 * players that probe for captions otherwise (Shaka fetches the middle and
 * last segments of a playlist before it starts) must be able to trust that.
 * h264_vaapi writes no A/53 SEI unless its `-sei` flags ask for it.
 */
const NO_CAPTIONS: Record<VideoEncoderName, string[]> = {
  libx264: ['-a53cc', '0'],
  h264_nvenc: ['-a53cc', '0'],
  h264_qsv: ['-a53cc', '0'],
  h264_vaapi: [],
  h264_videotoolbox: ['-a53cc', '0'],
};

/** A one-frame encode on the device: fails when the encoder is listed but cannot run here. */
export function trialArgs(encoder: VideoEncoderName): string[] {
  const device = encoder === 'h264_vaapi' || encoder === 'h264_qsv' ? DEVICES[encoder] : undefined;
  const upload = device ? ['-vf', `format=nv12,${uploadFilter(encoder)}`] : encoder === 'h264_nvenc' ? ['-vf', 'format=yuv420p'] : [];
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    ...(device ? ['-init_hw_device', device.spec, '-filter_hw_device', HW_DEVICE_NAME] : []),
    '-f', 'lavfi', '-i', 'color=black:size=256x144:rate=25',
    '-frames:v', '1', ...upload, '-c:v', encoder, '-f', 'null', '-',
  ];
}
