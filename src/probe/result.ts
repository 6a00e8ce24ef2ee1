import type { AudioTrackProbe, ProbeResult, VideoTrackProbe } from './types.js';

/**
 * Assembles a probe result the same way whichever prober read the tracks:
 * exactly one default audio track (the first one the container flags, else
 * the first; Matroska flags every track and MPEG-TS none), and the start and
 * duration spanning every track, as ffmpeg's start_time does.
 */
export function assembleProbeResult(
  prober: ProbeResult['prober'],
  container: string,
  video: VideoTrackProbe,
  audio: AudioTrackProbe[],
  audioFlaggedDefault: readonly boolean[],
): ProbeResult {
  const flagged = audioFlaggedDefault.indexOf(true);
  const defaultIndex = flagged >= 0 ? flagged : 0;
  audio.forEach((a, i) => (a.isDefault = i === defaultIndex));
  let start = (video.framePts[0] ?? 0) / video.timescale;
  let end = video.endPts / video.timescale;
  for (const a of audio) {
    start = Math.min(start, a.startSeconds);
    end = Math.max(end, a.endSeconds);
  }
  return { prober, container, startSeconds: start, durationSeconds: end - start, video, audio };
}
