import {
  AAC_FRAME_SAMPLES,
  AAC_PRIMING_FRAMES,
  AUDIO_SAMPLE_RATE,
  OUTPUT_TIMESCALE,
  TIMELINE_OFFSET_SECONDS,
  type AudioRendition,
  type AudioSegment,
  type Plan,
  type VideoRendition,
  type VideoSegment,
} from '../plan/plan.js';
import { sourceInput } from '../process/source-input.js';
import { encoderArgs, hwInputArgs, scaleFilters } from './encoder-args.js';
import type { VideoEncoderName } from './encoders.js';
import type { SpeedTier } from './x264-tiers.js';
import { SDR_BT709_TAGS, toneMapFilters, withoutHardwareDecode } from './tonemap.js';
import { hevcEncoderArgs, hevcFilters } from './hevc-args.js';

/**
 * FFmpeg command lines, as pure functions of the plan. Every encode writes
 * MPEG-TS with `-copyts` plus the constant timeline offset, so Shaka Packager
 * writes tfdt values on the source timeline (see FACTS.md).
 */

/** info: the encoder's own summary (x264 frame stats) goes to the session logs; -nostats keeps it short. */
const COMMON = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info'];
/** No mux delay: TS timestamps must be the encoder's, untouched. */
export const TS_OUTPUT = ['-muxdelay', '0', '-muxpreload', '0', '-f', 'mpegts'];
/** AAC frames of audio decoded before a segment's first kept frame, so the encoder's overlap window is primed with real audio. */
export const AUDIO_PREROLL_FRAMES = 2;
/** …and after its last, so the last kept frame is encoded with its true successor. */
export const AUDIO_POSTROLL_FRAMES = 2;

const seconds = (value: number) => (Math.round(value * 1e6) / 1e6).toFixed(6);

/**
 * Where to seek, relative to ffmpeg's start_time. For video the demuxer seek
 * lands on the keyframe at or before this point; a quarter frame past the cut
 * makes that the cut's own keyframe instead of the GOP before it.
 */
export function videoSeekSeconds(plan: Plan, segment: VideoSegment): number | undefined {
  if (segment.index === 0) return undefined;
  const quarterFrame = 0.25 / Math.max(plan.frameRate, 1);
  return Math.max(0, segment.startPts / plan.sourceTimescale - plan.sourceStartSeconds + quarterFrame);
}

export interface VideoEncodeOptions {
  /** Seek this far before the cut (seconds), e.g. when a first try found frames missing. */
  extraSeekBackSeconds?: number;
  /** The H.264 encoder (default libx264); a hardware one also decodes and scales on its device. */
  encoder?: VideoEncoderName;
  /** Stop after this many frames: an init segment's encode (its stsd is the same as a whole segment's, see origin/init.ts). */
  frames?: number;
  /** libx264's speed: fast for a degraded segment, same SPS/PPS (x264-tiers.ts). Hardware encoders have one. */
  speed?: SpeedTier;
}

export function videoEncodeArgs(
  sourcePath: string,
  plan: Plan,
  rendition: VideoRendition,
  segment: VideoSegment,
  outputPath: string,
  options: VideoEncodeOptions = {},
): string[] {
  return videoEncodeArgsOver(sourcePath, plan, rendition, { first: segment, last: segment }, [...TS_OUTPUT, '-y', outputPath], options);
}

/**
 * The encode of the consecutive segments first..last (one span, or a run: transcode/video-run.ts), written by
 * `output` (the options after the encoder's: muxer and file).
 */
export function videoEncodeArgsOver(
  sourcePath: string,
  plan: Plan,
  rendition: VideoRendition,
  { first, last }: { first: VideoSegment; last: VideoSegment },
  output: string[],
  options: VideoEncodeOptions = {},
): string[] {
  const encoder = options.encoder ?? 'libx264';
  const seek = videoSeekSeconds(plan, first);
  const seekArgs = seek === undefined ? [] : ['-noaccurate_seek', '-ss', seconds(Math.max(0, seek - (options.extraSeekBackSeconds ?? 0)))];
  const isLast = last.index === plan.videoSegments.length - 1;
  // trim on exact source ticks: the filter sees the stream's own time base under -copyts.
  const trim = `trim=start_pts=${first.startPts}${isLast ? '' : `:end_pts=${last.endPts}`}`;
  // An HDR source is tone-mapped (and resized) in software first; the scaler then keeps its size. The HDR-keeping
  // HEVC rendition is libx265's, decoded and scaled in software, whatever encoder the H.264 ladder uses.
  const hevc = rendition.hevc;
  const toneMap = plan.toneMap && !hevc ? toneMapFilters(plan.toneMap, rendition.width, rendition.height) : [];
  const scale = hevc ? hevcFilters(rendition) : scaleFilters(encoder, rendition.width, rendition.height);
  const filters = [trim, ...toneMap, ...scale, 'setsar=1'].join(',');
  const hwInput = hevc ? [] : plan.toneMap ? withoutHardwareDecode(hwInputArgs(encoder)) : hwInputArgs(encoder);
  // The HEVC rendition has one speed (libx265's, never degraded: transcode/x264-tiers.ts is x264's).
  const encode = hevc
    ? hevcEncoderArgs(rendition, hevc, plan.encoder.preset)
    : [...encoderArgs(encoder, rendition, plan.encoder, options.speed), ...(plan.toneMap ? SDR_BT709_TAGS : [])];
  return [
    ...COMMON,
    ...seekArgs,
    '-copyts',
    ...hwInput,
    // encoder.threads is the decoder's: decoding is bit-exact at any thread count (the encoder's is pinned).
    ...(plan.encoder.threads > 0 ? ['-threads', String(plan.encoder.threads)] : []),
    ...sourceInput(sourcePath),
    '-map', `0:v:${plan.videoTrackIndex}`,
    '-an', '-sn', '-dn', '-map_metadata', '-1', '-map_chapters', '-1',
    '-vf', filters,
    // Every source frame once, on its own timestamp: no frame-rate conversion, VFR stays VFR.
    '-fps_mode', 'passthrough',
    '-enc_time_base', '-1',
    ...encode,
    ...(options.frames ? ['-frames:v', String(options.frames)] : []),
    '-output_ts_offset', String(TIMELINE_OFFSET_SECONDS),
    ...output,
  ];
}

/** Samples (48 kHz, source timeline) where AAC frame `frame` of an audio rendition starts. */
export function audioFrameSample(audio: AudioRendition, frame: number): number {
  return audio.gridOriginSample + frame * AAC_FRAME_SAMPLES;
}

export interface AudioSpanSamples {
  /** Frames decoded before the first kept source frame (fewer at the very start). */
  prerollFrames: number;
  /** [start, end) in 48 kHz samples on the source timeline: pre-roll, the segment's frames, post-roll. */
  startSample: number;
  endSample: number;
  /** The encoder's output frame that is the segment's first: output frame i sits on grid frame (span start − priming + i). */
  firstKeptFrame: number;
}

/**
 * The samples a segment's encode needs: [first − preroll, last + postroll)
 * frames of the grid. Segment 1's priming frames (grid frames before 0) have
 * no samples of their own: the encoder makes them before the first sample.
 */
export function audioSpanSamples(audio: AudioRendition, segment: AudioSegment): AudioSpanSamples {
  const firstSourceFrame = Math.max(0, segment.firstFrame);
  const prerollFrames = Math.min(AUDIO_PREROLL_FRAMES, firstSourceFrame);
  const spanFirstFrame = firstSourceFrame - prerollFrames;
  return {
    prerollFrames,
    startSample: audioFrameSample(audio, spanFirstFrame),
    endSample: audioFrameSample(audio, segment.firstFrame + segment.frameCount + AUDIO_POSTROLL_FRAMES),
    firstKeptFrame: segment.firstFrame - (spanFirstFrame - AAC_PRIMING_FRAMES),
  };
}

/** Where one span's decode writes: raw 48 kHz PCM (f32, interleaved) and the framecrc listing of its decoded frames. */
export interface AudioDecodeOutput {
  span: AudioSpanSamples;
  pcmPath: string;
  framesPath: string;
}

/**
 * Decodes the source's audio from a little before each span to a little past
 * it, as raw 48 kHz PCM (f32, interleaved), and lists the decoded frames
 * before resampling (framecrc: time and length of each, at the source's rate),
 * so the caller learns where the first one sits. One ffmpeg for any number of
 * spans: each is its own input with its own seek, so a span's PCM is the same
 * bytes whether it is decoded alone or in a run. No accurate seek: the first
 * frame is then a whole packet, whose place is known exactly (transcode.ts);
 * ffmpeg's own trim would cut it on a millisecond-rounded time. A second early
 * covers any decoder's convergence after a seek (Opus: 80 ms).
 */
export function audioDecodeArgs(sourcePath: string, plan: Plan, audio: AudioRendition, outputs: readonly AudioDecodeOutput[]): string[] {
  const inputs = outputs.flatMap(({ span }) => {
    const seek = audioSeekSeconds(plan, span);
    return [...(seek > 0 ? ['-noaccurate_seek', '-ss', seconds(seek)] : []), ...sourceInput(sourcePath)];
  });
  // Both outputs of a span stop half a second past it (pts are the source's, under -copyts), so nothing decodes on
  // to the end of the file. Not -t: that counts from where the demuxer lands, which can be a whole GOP before the seek.
  const graph = outputs
    .map(({ span }, i) => `[${i}:a:${audio.trackIndex}]atrim=end=${seconds(span.endSample / AUDIO_SAMPLE_RATE + 0.5)},asplit[pcm${i}][frames${i}];[pcm${i}]aresample=${AUDIO_SAMPLE_RATE}[out${i}]`)
    .join(';');
  return [
    ...COMMON,
    '-copyts',
    ...inputs,
    '-filter_complex', graph,
    ...outputs.flatMap(({ pcmPath, framesPath }, i) => [
      '-map', `[out${i}]`, '-map_metadata', '-1', '-ac', String(audio.channels), '-f', 'f32le', '-y', `file:${pcmPath}`,
      '-map', `[frames${i}]`, '-map_metadata', '-1', '-c:a', 'pcm_s16le', '-f', 'framecrc', '-y', `file:${framesPath}`,
    ]),
  ];
}

/** Where a span's decode seeks to, relative to ffmpeg's start_time: a second early; 0 is the file's start (no seek). */
export function audioSeekSeconds(plan: Plan, span: AudioSpanSamples): number {
  return Math.max(0, span.startSample / AUDIO_SAMPLE_RATE - plan.sourceStartSeconds - 1);
}

/** Encodes raw 48 kHz PCM from stdin to ADTS on stdout (the init segment's few frames of silence). */
export function audioPipeEncodeArgs(audio: AudioRendition): string[] {
  return [
    ...COMMON,
    '-protocol_whitelist', 'pipe',
    '-f', 'f32le', '-ar', String(AUDIO_SAMPLE_RATE), '-ac', String(audio.channels), '-i', 'pipe:0',
    '-c:a', 'aac',
    '-b:a', `${audio.bitrateKbps}k`,
    '-f', 'adts',
    'pipe:1',
  ];
}

/** Wraps the kept ADTS frames in MPEG-TS at their place on the output timeline (the plan's tick, exactly). */
export function audioRemuxArgs(segment: AudioSegment, outputPath: string): string[] {
  // Ticks / 90 kHz printed to the microsecond comes back as the same tick (the error is under 0.05 tick).
  const offset = segment.start / OUTPUT_TIMESCALE;
  return [...COMMON, '-protocol_whitelist', 'pipe', '-f', 'aac', '-i', 'pipe:0', '-c:a', 'copy', '-output_ts_offset', seconds(offset), ...TS_OUTPUT, '-y', outputPath];
}

/** One span's encode: exactly its samples as raw 48 kHz PCM in, its kept AAC frames as MPEG-TS out. */
export interface AudioEncodeJob {
  segment: AudioSegment;
  span: AudioSpanSamples;
  pcmPath: string;
  tsPath: string;
}

/**
 * Encodes each span's PCM with its own AAC encoder (one per output, so a
 * span's frames are the same bytes in a run of any length) and writes only
 * its kept frames to MPEG-TS, the first at the segment's tick exactly: the
 * encoder's output frame i has pts (i − priming) × 1024 samples, the noise
 * bitstream filter drops the frames before `firstKeptFrame` and after the
 * segment's last, and the output offset moves the first kept one to the plan's
 * start. One ffmpeg for any number of spans; its outputs are complete when it
 * exits.
 */
export function audioEncodeArgs(audio: AudioRendition, jobs: readonly AudioEncodeJob[]): string[] {
  const pcmInput = ['-f', 'f32le', '-ar', String(AUDIO_SAMPLE_RATE), '-ac', String(audio.channels)];
  return [
    ...COMMON,
    ...jobs.flatMap(({ pcmPath }) => ['-protocol_whitelist', 'file', ...pcmInput, '-i', `file:${pcmPath}`]),
    ...jobs.flatMap(({ segment, span, tsPath }, i) => {
      const last = span.firstKeptFrame + segment.frameCount;
      // Ticks / 90 kHz printed to the microsecond comes back as the same tick (the error is under 0.05 tick).
      const firstKeptPts = ((span.firstKeptFrame - AAC_PRIMING_FRAMES) * AAC_FRAME_SAMPLES * OUTPUT_TIMESCALE) / AUDIO_SAMPLE_RATE;
      return [
        '-map', `${i}:a`, '-map_metadata', '-1',
        '-c:a', 'aac', '-b:a', `${audio.bitrateKbps}k`,
        '-bsf:a', `noise=drop=lt(n\\,${span.firstKeptFrame})+gte(n\\,${last})`,
        '-output_ts_offset', seconds((segment.start - firstKeptPts) / OUTPUT_TIMESCALE),
        ...TS_OUTPUT, '-y', `file:${tsPath}`,
      ];
    }),
  ];
}
