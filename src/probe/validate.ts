/**
 * The last word of every probe: a result outside PROBE_LIMITS, or one that
 * would put Infinity, NaN or 0 in a manifest, is refused here with the
 * reason, whichever prober read the file.
 */
import { ProbeError } from './errors.js';
import { PROBE_LIMITS } from './limits.js';
import type { ProbeResult, VideoTrackProbe } from './types.js';

const refuse = (reason: string): never => {
  throw new ProbeError('impossible', reason);
};

const isPositive = (value: number) => Number.isFinite(value) && value > 0;

export function assertStreamable(probe: ProbeResult): ProbeResult {
  const { video } = probe;
  assertGeometry(video.width, video.height, video.sampleAspectRatio);
  assertTimeline(video);
  if (!isPositive(probe.durationSeconds)) refuse(`its duration is ${probe.durationSeconds} s`);
  if (probe.durationSeconds > PROBE_LIMITS.maxDurationSeconds) {
    refuse(`its duration of ${Math.round(probe.durationSeconds)} s is longer than the ${PROBE_LIMITS.maxDurationSeconds} s limit`);
  }
  if (!Number.isFinite(probe.startSeconds)) refuse(`its start time is ${probe.startSeconds}`);
  for (const audio of probe.audio) {
    if (!Number.isFinite(audio.startSeconds) || !Number.isFinite(audio.endSeconds)) refuse(`audio track ${audio.index} has no finite start and end`);
  }
  return probe;
}

/** Decoded size within the limits, and the displayed one too; exported for ffprobe.ts, which checks before its whole-file scan. */
export function assertGeometry(width: number, height: number, sampleAspectRatio: string): void {
  const { maxDimension: max, minDimension: min } = PROBE_LIMITS;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) refuse(`its picture size is ${width}×${height}`);
  if (width > max || height > max) refuse(`its picture size ${width}×${height} exceeds ${max} pixels`);
  if (width < min || height < min) refuse(`its picture size ${width}×${height} is below ${min} pixels`);
  const [num, den] = sampleAspectRatio.split(':').map(Number);
  if (!isPositive(num ?? NaN) || !isPositive(den ?? NaN)) refuse(`its sample aspect ratio is '${sampleAspectRatio}'`);
  // The displayed size (what the ladder scales to) is bounded like the decoded one.
  const displayWidth = width * Math.max(num! / den!, 1);
  const displayHeight = height / Math.min(num! / den!, 1);
  if (displayWidth > max || displayHeight > max) {
    refuse(`its displayed size ${Math.round(displayWidth)}×${Math.round(displayHeight)} (sample aspect ratio ${sampleAspectRatio}) exceeds ${max} pixels`);
  }
}

function assertTimeline(video: VideoTrackProbe): void {
  const frames = video.framePts.length;
  if (frames === 0) refuse('its video track presents no frame');
  if (frames > PROBE_LIMITS.maxFrames) refuse(`it has ${frames} frames, more than the ${PROBE_LIMITS.maxFrames} limit`);
  if (!isPositive(video.timescale)) refuse(`its video timescale is ${video.timescale}`);
  if (!Number.isFinite(video.framePts[0]!) || !Number.isFinite(video.endPts)) refuse('its video timestamps are not finite');
  const videoSeconds = (video.endPts - video.framePts[0]!) / video.timescale;
  if (!isPositive(videoSeconds)) refuse(`its video lasts ${videoSeconds} s`);
  const { minFrameRate, maxFrameRate } = PROBE_LIMITS;
  if (!Number.isFinite(video.frameRate) || video.frameRate < minFrameRate || video.frameRate > maxFrameRate) {
    refuse(`its average frame rate of ${video.frameRate} fps is outside ${minFrameRate}–${maxFrameRate} fps`);
  }
}
