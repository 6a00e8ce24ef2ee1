import { createHash } from 'node:crypto';
import type { Profile, StreamingConfig } from '../config/config.js';
import type { AudioTrackProbe, ProbeResult, VideoTrackProbe } from '../probe/types.js';
import { ProbeError } from '../probe/errors.js';
import { audioSegmentBitsBound, bitrateFigures, videoSegmentBitsBound } from './bandwidth.js';
import { frameRates, rationalValue, type FrameRates } from './frame-rate.js';
import { avcHighCodecString, h264LevelIdc } from './h264-level.js';
import { toneMapOf, type ToneMap } from './tone-map.js';
import { hdrRendition, type HdrKeep } from './hdr-rendition.js';
import { hdrFormatOf, type DynamicRange } from '../probe/colour.js';

/**
 * The plan: one deterministic cut list per source and everything derived from
 * it (ladder, audio segmentation, exact output timestamps). A pure function of
 * (probe, config): manifests are written from it before anything is encoded,
 * and every encode follows it, so playlists and segments always agree.
 */

/** Bump when the encode/package pipeline changes its output; it is part of every rendition id (3: x264 on one thread; the init's btrt holds upper bounds; 4: audio placed sample-exact from every codec; 5: audio segment 1 carries the AAC encoder's priming frame). */
export const PIPELINE_VERSION = 5;
/**
 * The format of video fragments and inits, part of every video rendition id,
 * so a cache never holds both formats in one rendition. 2: trun version 1,
 * tfdt = earliest presentation time, no negative composition offset, no edit
 * list (1 had an edit list removing a constant decode delay). 3: the init is
 * packaged from the first segment's first two frames, never from whichever
 * segment was encoded first (whose first frame set trex's default duration:
 * 3753 or 3754 ticks at 23.976 fps). 4: no CEA-608/708 caption SEI carried
 * over from the source (the manifests say CLOSED-CAPTIONS=NONE).
 */
export const VIDEO_FORMAT_VERSION = 4;
/** Shaka Packager writes MPEG-TS input at the TS clock; manifests use the same. */
export const OUTPUT_TIMESCALE = 90_000;
/**
 * Every output timestamp is the source timestamp plus this constant. x264's
 * B-frames give the first frame a decode time before its presentation time;
 * at source time 0 that would be negative (and MPEG-TS would wrap it), so the
 * whole timeline moves by a constant that never changes between segments.
 */
export const TIMELINE_OFFSET_SECONDS = 10;
export const AUDIO_SAMPLE_RATE = 48_000;
export const AAC_FRAME_SAMPLES = 1024;
/**
 * AAC frames the encoder emits before the first input sample (FFmpeg's native
 * encoder: one). Audio segment 1 carries them, on the grid before the
 * source's first sample: an AAC frame is decoded with the one before it, and
 * the first source frame decoded without its predecessor comes out with its
 * first ~448 samples silent. The tfdt of segment 1 is then that frame's time,
 * before the first picture when audio and video start together, where the
 * players' append window cuts it (Chromium's MSE keeps a frame it cuts whole
 * as the next one's decoder preroll). Shaka's HLS path instead places each
 * segment's first tfdt at its playlist time, so there the audio lies one
 * frame late (README).
 */
export const AAC_PRIMING_FRAMES = 1;

export interface VideoSegment {
  /** 0-based; URLs and $Number$ use index + 1. */
  index: number;
  /** Source presentation time of the first frame (source track ticks). */
  startPts: number;
  /** Source presentation time where the next segment starts (exclusive). */
  endPts: number;
  frameCount: number;
  /** Whether the cut falls on a source keyframe (else ffmpeg decodes from the previous one). */
  onKeyframe: boolean;
  /** Output timeline (90 kHz, offset included). */
  start: number;
  duration: number;
}

export interface AudioSegment {
  index: number;
  /** AAC frame index of the first frame, counted from the track's grid origin (segment 1: −AAC_PRIMING_FRAMES). */
  firstFrame: number;
  frameCount: number;
  start: number;
  duration: number;
}

export interface VideoRendition {
  id: string;
  name: string;
  width: number;
  height: number;
  bitrateKbps: number;
  maxrateKbps: number;
  bufsizeKbps: number;
  crf: number;
  levelIdc: number;
  codecs: string;
  /** Upper bounds before anything is encoded (bits/s, see bandwidth.ts); manifests correct them from made segments. */
  peakBandwidth: number;
  averageBandwidth: number;
  /** HLS VIDEO-RANGE, declared for HDR sources only (an SDR source's variants leave it to its default, SDR). */
  videoRange?: DynamicRange;
  /** An HEVC Main 10 rendition that keeps the HDR (hdr-rendition.ts); absent: H.264. */
  hevc?: HdrKeep;
}

export interface AudioRendition {
  id: string;
  trackIndex: number;
  language: string;
  name: string;
  isDefault: boolean;
  channels: number;
  sampleRate: number;
  bitrateKbps: number;
  codecs: string;
  /** 48 kHz sample on the source timeline where AAC frame 0 starts: the source's first decoded sample. */
  gridOriginSample: number;
  /** The source track's clock is coarser than a sample (see AudioTrackProbe.coarseTimestamps). */
  coarseTimestamps: boolean;
  segments: AudioSegment[];
  /** Upper bounds before anything is encoded (bits/s, see bandwidth.ts). */
  peakBandwidth: number;
  averageBandwidth: number;
}

export interface EncoderSettings {
  preset: string;
  tune?: string;
  /** The decoder's threads (0: ffmpeg's choice); the H.264 encoder always runs one (see encoder-args.ts). */
  threads: number;
}

export interface Plan {
  timescale: number;
  /** Output timeline value that corresponds to presentation time zero for players (DASH presentationTimeOffset). */
  presentationTimeOffset: number;
  durationSeconds: number;
  /** Average frames per second (the seek margin's frame length). */
  frameRate: number;
  /** What manifests declare (HLS FRAME-RATE, DASH @frameRate): see frame-rate.ts. */
  frameRates: FrameRates;
  sourceTimescale: number;
  /** What ffmpeg calls the file's start_time; -ss is relative to it. */
  sourceStartSeconds: number;
  videoTrackIndex: number;
  videoSegments: VideoSegment[];
  renditions: VideoRendition[];
  audio: AudioRendition[];
  encoder: EncoderSettings;
  segmentTemplate: string;
  /** An HDR source: how the H.264 ladder is tone-mapped to SDR BT.709 (tone-map.ts). */
  toneMap?: ToneMap;
  /** An HDR source: what it is, for people (/info: "HDR10", "HLG", "Dolby Vision 8.1 (HDR10 base)", …). */
  hdrFormat?: string;
  /** Protected content (package/drm/protect-plan.ts): every segment is encrypted with this scheme; rendition ids carry it. */
  protection?: { scheme: 'cenc' | 'cbcs'; tag: string };
}

/** Round half away from zero, like FFmpeg's av_rescale_q (AV_ROUND_NEAR_INF). */
export function rescale(value: number, fromTimescale: number, toTimescale: number): number {
  const scaled = (value * toTimescale) / fromTimescale;
  return Math.sign(scaled) * Math.floor(Math.abs(scaled) + 0.5);
}

/** First index in [from, sorted.length) whose value is >= `value` (binary search). */
function lowerBound(sorted: readonly number[], value: number, from = 0): number {
  let lo = from;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Value in `sorted` nearest to `target` within [min, max], or undefined. */
function nearestWithin(sorted: readonly number[], target: number, min: number, max: number): number | undefined {
  const at = lowerBound(sorted, target);
  // The candidates either side of the target; on a tie the one below wins.
  const below = sorted[at - 1];
  const above = sorted[at];
  let best: number | undefined;
  if (below !== undefined && below >= min && below <= max) best = below;
  if (above !== undefined && above >= min && above <= max && (best === undefined || Math.abs(above - target) < Math.abs(best - target))) best = above;
  if (best !== undefined) return best;
  // Nothing near the target: take the closest point still inside the window.
  const first = sorted[lowerBound(sorted, min)];
  return first !== undefined && first <= max ? first : undefined;
}

/**
 * Cut points (source ticks) on the video track. Cuts prefer IDR keyframes
 * within [0.5, 1.5] × the target duration, nearest the target; a GOP too long
 * for that window is split on the frame nearest the target (we re-encode, so
 * any frame can start a segment). The first segment aims at half the target
 * (at least 2 s) so playback starts sooner.
 */
export function planCuts(video: VideoTrackProbe, segmentDurationSeconds: number): number[] {
  const frames = video.framePts;
  if (frames.length === 0) return [];
  const ts = video.timescale;
  const target = segmentDurationSeconds * ts;
  const cuts = [frames[0]!];
  let current = frames[0]!;
  let wanted = Math.max(2 * ts, target / 2);
  for (;;) {
    if (video.endPts - current <= wanted * 1.5) break;
    const min = current + wanted * 0.5;
    const max = current + wanted * 1.5;
    const ideal = current + wanted;
    // A frame gap wider than the window (a slideshow, a paused screen recording): cut at the first frame after it,
    // rather than make the rest of the file one segment.
    const next = nearestWithin(video.keyframePts, ideal, min, max) ?? nearestWithin(frames, ideal, min, max) ?? frames[lowerBound(frames, max)];
    if (next === undefined || next <= current) break;
    cuts.push(next);
    current = next;
    wanted = target;
  }
  return cuts;
}

function videoSegments(video: VideoTrackProbe, cuts: number[], offsetTicks: number): VideoSegment[] {
  // One pass over the cuts: each boundary is searched once (a segment ends where the next starts),
  // each search starting where the previous one ended.
  const frames = video.framePts;
  const keyframes = video.keyframePts;
  const toTimeline = (pts: number) => rescale(pts, video.timescale, OUTPUT_TIMESCALE) + offsetTicks;
  if (cuts.length === 0) return [];
  const segments: VideoSegment[] = new Array<VideoSegment>(cuts.length);
  let startPts = cuts[0]!;
  let startFrame = lowerBound(frames, startPts);
  let start = toTimeline(startPts);
  let keyAt = 0;
  for (let index = 0; index < cuts.length; index++) {
    const endPts = cuts[index + 1] ?? video.endPts;
    const endFrame = endPts >= startPts ? lowerBound(frames, endPts, startFrame) : lowerBound(frames, endPts);
    const end = toTimeline(endPts);
    keyAt = lowerBound(keyframes, startPts, keyAt);
    segments[index] = {
      index,
      startPts,
      endPts,
      frameCount: endFrame - startFrame,
      onKeyframe: keyframes[keyAt] === startPts,
      start,
      duration: end - start,
    };
    startPts = endPts;
    startFrame = endFrame;
    start = end;
  }
  return segments;
}

interface DisplaySize {
  width: number;
  height: number;
}

/** Size a viewer sees: sample aspect ratio applied, rotation applied. */
export function displaySize(video: VideoTrackProbe): DisplaySize {
  const [sarNum, sarDen] = video.sampleAspectRatio.split(':').map(Number);
  const sar = sarNum && sarDen ? sarNum / sarDen : 1;
  const width = video.width * Math.max(sar, 1);
  const height = video.height / Math.min(sar, 1);
  return video.rotation % 180 === 0 ? { width, height } : { width: height, height: width };
}

const even = (value: number) => Math.max(2, 2 * Math.round(value / 2));

/** Fits the source into a profile's box (oriented like the source), never upscaling, even dimensions. */
function fitInto(source: DisplaySize, boxWidth: number, boxHeight: number): DisplaySize {
  const portrait = source.height > source.width;
  const [w, h] = portrait ? [boxHeight, boxWidth] : [boxWidth, boxHeight];
  const scale = Math.min(w / source.width, h / source.height, 1);
  return { width: even(source.width * scale), height: even(source.height * scale) };
}

function shortHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 10);
}

function ladder(
  video: VideoTrackProbe,
  fps: number,
  profiles: Profile[],
  segments: VideoSegment[],
  cutsKey: string,
  encoder: EncoderSettings,
  toneMap: ToneMap | undefined,
): VideoRendition[] {
  const source = displaySize(video);
  const shortSide = Math.min(source.width, source.height);
  let chosen = profiles.filter((p) => Math.min(p.width, p.height) <= shortSide);
  if (chosen.length === 0) {
    // Below every profile: one rendition at the source's own size, with the smallest profile's settings scaled by area.
    const smallest = [...profiles].sort((a, b) => a.width * a.height - b.width * b.height)[0]!;
    // Profiles are landscape boxes (fitInto turns them for portrait sources), so this one is too.
    const box = { width: Math.max(source.width, source.height), height: Math.min(source.width, source.height) };
    const size = fitInto(source, box.width, box.height);
    const areaRatio = Math.min(1, (size.width * size.height) / (smallest.width * smallest.height));
    chosen = [
      {
        ...smallest,
        name: `${Math.min(size.width, size.height)}p`,
        width: Math.max(size.width, size.height),
        height: Math.min(size.width, size.height),
        bitrate: Math.max(100, Math.round(smallest.bitrate * areaRatio)),
      },
    ];
  }
  return chosen.map((profile) => {
    const size = fitInto(source, profile.width, profile.height);
    const maxrateKbps = profile.bitrate;
    const bufsizeKbps = profile.bitrate;
    // The highest rate, so that a variable-rate source's fastest second fits the level too.
    const levelIdc = h264LevelIdc(size.width, size.height, fps, maxrateKbps);
    // Decoder threads do not change a byte of output, so they are not part of the id.
    // The tone map only when there is one: an SDR source's ids (and cached segments) stay what they were.
    const settings = { v: PIPELINE_VERSION, format: VIDEO_FORMAT_VERSION, profile, size, maxrateKbps, bufsizeKbps, levelIdc, encoder: { preset: encoder.preset, tune: encoder.tune }, cutsKey, ...(toneMap ? { toneMap } : {}) };
    const bounds = bitrateFigures(
      segments.map((s) => ({ bits: videoSegmentBitsBound(maxrateKbps, bufsizeKbps, s.duration, OUTPUT_TIMESCALE, s.frameCount), ticks: s.duration })),
      OUTPUT_TIMESCALE,
    );
    return {
      id: `${profile.name}-${shortHash(settings)}`,
      name: profile.name,
      width: size.width,
      height: size.height,
      bitrateKbps: profile.bitrate,
      maxrateKbps,
      bufsizeKbps,
      crf: profile.quality,
      levelIdc,
      codecs: avcHighCodecString(levelIdc),
      peakBandwidth: bounds.peak,
      averageBandwidth: bounds.average,
      ...(toneMap ? { videoRange: 'SDR' as const } : {}),
    };
  });
}

function audioRendition(
  track: AudioTrackProbe,
  cutsSeconds: number[],
  output: { channels: number; bitrateKbps: number },
  cutsKey: string,
  offsetTicks: number,
): AudioRendition {
  const { channels, bitrateKbps } = output;
  // Grid frame 0 starts on the source's first sample: A/V offset kept to the sample (1024 samples are 1920 ticks,
  // so every frame start rounds to the 90 kHz clock the same way).
  const gridOriginSample = Math.round(track.startSeconds * AUDIO_SAMPLE_RATE);
  const frameAt = (seconds: number) => (seconds * AUDIO_SAMPLE_RATE - gridOriginSample) / AAC_FRAME_SAMPLES;
  // Whole AAC frames: a last partial frame is completed with silence, as the source's own decoder presents it whole.
  const lastFrame = Math.max(0, Math.ceil(frameAt(track.endSeconds) - 1e-9));
  const boundaries = [0, ...cutsSeconds.slice(1).map((s) => Math.min(lastFrame, Math.max(0, Math.round(frameAt(s))))), lastFrame];
  // Half up, never half away from zero: a start before zero must round like the ones after it.
  const toTimeline = (frame: number) => Math.floor(((gridOriginSample + frame * AAC_FRAME_SAMPLES) * OUTPUT_TIMESCALE) / AUDIO_SAMPLE_RATE + 0.5) + offsetTicks;
  const segments: AudioSegment[] = [];
  for (let i = 0; i + 1 < boundaries.length; i++) {
    if (boundaries[i + 1]! <= boundaries[i]!) continue;
    // The first segment starts with the encoder's priming frames, on the grid before the source's first sample.
    const firstFrame = boundaries[i]! - (segments.length === 0 ? AAC_PRIMING_FRAMES : 0);
    const frameCount = boundaries[i + 1]! - firstFrame;
    segments.push({
      index: segments.length,
      firstFrame,
      frameCount,
      start: toTimeline(firstFrame),
      duration: frameCount * ((AAC_FRAME_SAMPLES * OUTPUT_TIMESCALE) / AUDIO_SAMPLE_RATE),
    });
  }
  const settings = { v: PIPELINE_VERSION, track: track.index, channels, bitrateKbps, cutsKey, gridOriginSample };
  const bounds = bitrateFigures(
    segments.map((s) => ({ bits: audioSegmentBitsBound(bitrateKbps, s.duration, OUTPUT_TIMESCALE, s.frameCount), ticks: s.duration })),
    OUTPUT_TIMESCALE,
  );
  const name = track.title ?? (track.language && track.language !== 'und' ? track.language : `Audio ${track.index + 1}`);
  const surround = channels > 2;
  return {
    id: `audio${track.index}${surround ? `-${channels}ch` : ''}-${shortHash(settings)}`,
    trackIndex: track.index,
    language: track.language || 'und',
    name: surround ? `${name} 5.1` : name,
    // The stereo rendition is the default: every device plays it.
    isDefault: track.isDefault && !surround,
    channels,
    sampleRate: AUDIO_SAMPLE_RATE,
    bitrateKbps,
    codecs: 'mp4a.40.2',
    gridOriginSample,
    coarseTimestamps: track.coarseTimestamps === true,
    segments,
    peakBandwidth: bounds.peak,
    averageBandwidth: bounds.average,
  };
}

export function makePlan(probe: ProbeResult, config: StreamingConfig): Plan {
  const video = probe.video;
  const offsetTicks = TIMELINE_OFFSET_SECONDS * OUTPUT_TIMESCALE;
  const cuts = planCuts(video, config.segment_duration);
  const segments = videoSegments(video, cuts, offsetTicks);
  const cutsKey = shortHash({ ts: video.timescale, cuts, end: video.endPts });
  const encoder: EncoderSettings = { preset: config.encoder.preset, threads: config.encoder.threads, ...(config.encoder.tune ? { tune: config.encoder.tune } : {}) };
  const profiles = config.enable_abr ? config.profiles : config.profiles.slice(0, 1);
  const rates = frameRates(video);
  const toneMap = toneMapOf(video.colour);
  const renditions = ladder(video, rationalValue(rates.nominal), profiles, segments, cutsKey, encoder, toneMap);
  if (toneMap && config.hdr === 'keep') {
    const top = renditions.reduce((best, r) => (r.width * r.height > best.width * best.height ? r : best));
    renditions.push(hdrRendition(top, toneMap, video.colour, rationalValue(rates.nominal), segments, cutsKey, encoder));
  }
  const cutsSeconds = cuts.map((pts) => pts / video.timescale);
  const audio = probe.audio.flatMap((track) => [
    audioRendition(track, cutsSeconds, { channels: 2, bitrateKbps: config.audio.bitrate }, cutsKey, offsetTicks),
    ...(config.audio.surround && track.channels >= 6
      ? [audioRendition(track, cutsSeconds, { channels: 6, bitrateKbps: config.audio.surround_bitrate }, cutsKey, offsetTicks)]
      : []),
  ]);
  if (audio.length > 0 && !audio.some((a) => a.isDefault)) audio[0]!.isDefault = true;
  return assertManifestable({
    timescale: OUTPUT_TIMESCALE,
    // The presentation starts with the first picture. Audio that starts before it (AAC priming in MPEG-TS puts
    // the first audio frame ~21 ms before the first picture) plays from 0, its earlier part cut by the players'
    // append window; starting at the earliest audio instead left the video a gap at 0 that Shaka Player and
    // dash.js jumped by a seek before playing (mpegts-no-skip.test.ts).
    presentationTimeOffset: segments[0]?.start ?? NaN,
    durationSeconds: probe.durationSeconds,
    frameRate: video.frameRate,
    frameRates: rates,
    sourceTimescale: video.timescale,
    sourceStartSeconds: probe.startSeconds,
    videoTrackIndex: video.index,
    videoSegments: segments,
    renditions,
    audio: audio.filter((a) => a.segments.length > 0),
    encoder,
    segmentTemplate: config.packager.segment_template,
    ...(toneMap ? { toneMap, hdrFormat: hdrFormatOf(video.colour) } : {}),
  });
}

/**
 * Every number a manifest prints from the plan is finite and positive where
 * it must be (no BANDWIDTH=Infinity, FRAME-RATE=0.000 or EXTINF:0): the probe
 * refuses sources that would give anything else (probe/validate.ts); this is
 * the last guard, and its refusal is the same 415.
 */
export function assertManifestable(plan: Plan): Plan {
  const positive = (value: number) => Number.isFinite(value) && value > 0;
  const refuse = (what: string) => {
    throw new ProbeError('impossible', `its plan would put ${what} in a manifest`);
  };
  if (!positive(plan.durationSeconds)) refuse(`a duration of ${plan.durationSeconds} s`);
  if (!positive(plan.frameRate)) refuse(`a frame rate of ${plan.frameRate}`);
  for (const rate of [plan.frameRates.nominal, plan.frameRates.average]) {
    if (!positive(rate.num) || !positive(rate.den)) refuse(`a frame rate of ${rate.num}/${rate.den}`);
  }
  if (plan.videoSegments.length === 0) refuse('no video segment');
  if (!Number.isFinite(plan.presentationTimeOffset)) refuse(`a presentation time offset of ${plan.presentationTimeOffset}`);
  for (const segment of plan.videoSegments) {
    if (!positive(segment.duration) || segment.frameCount < 1) refuse(`video segment ${segment.index + 1} lasting ${segment.duration} ticks with ${segment.frameCount} frames`);
  }
  for (const r of plan.renditions) {
    if (!positive(r.width) || !positive(r.height)) refuse(`a ${r.width}×${r.height} rendition`);
    if (!positive(r.peakBandwidth) || !positive(r.averageBandwidth)) refuse(`a bandwidth of ${r.peakBandwidth} (average ${r.averageBandwidth})`);
  }
  for (const a of plan.audio) {
    if (!positive(a.peakBandwidth) || !positive(a.averageBandwidth)) refuse(`an audio bandwidth of ${a.peakBandwidth} (average ${a.averageBandwidth})`);
    for (const segment of a.segments) if (!positive(segment.duration)) refuse(`audio segment ${segment.index + 1} lasting ${segment.duration} ticks`);
  }
  return plan;
}

/** Segment file name from the configured template, e.g. "segment_$Number$.m4s" → "segment_3.m4s". */
export function segmentFileName(template: string, number: number): string {
  return template.replace('$Number$', String(number));
}

/** Inverse of segmentFileName; undefined for names that do not match the template. */
export function segmentNumberFromFileName(template: string, fileName: string): number | undefined {
  const [prefix, suffix] = template.split('$Number$') as [string, string];
  if (!fileName.startsWith(prefix) || !fileName.endsWith(suffix)) return undefined;
  const digits = fileName.slice(prefix.length, fileName.length - suffix.length);
  return /^[1-9][0-9]{0,8}$/.test(digits) ? Number(digits) : undefined;
}
