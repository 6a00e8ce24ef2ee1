import type { VideoColour } from './colour.js';

/**
 * What the probe learns about a source, in the source's own timeline.
 *
 * Times are integers in the track's timescale (ticks), exactly as the demuxer
 * that ffmpeg uses reports them (`-copyts` timestamps), so the plan can cut on
 * exact frames and ffmpeg's `trim=start_pts=…` lands on the same frames.
 */
export interface VideoTrackProbe {
  /** Index among the source's video streams (ffmpeg `-map 0:v:N`). */
  index: number;
  codec: string;
  width: number;
  height: number;
  /** Sample aspect ratio as "num:den" ("1:1" when unknown). */
  sampleAspectRatio: string;
  /** Clockwise rotation from the display matrix, degrees (0, 90, 180, 270). */
  rotation: number;
  /** Ticks per second of every time below (ffmpeg stream time_base = 1/timescale). */
  timescale: number;
  /** Average frame rate, frames per second. */
  frameRate: number;
  /** Presentation time of every presented frame, ascending. */
  framePts: number[];
  /** Presentation times of IDR keyframes (clean cut points), ascending, a subset of framePts. */
  keyframePts: number[];
  /** Presentation time just after the last frame (last pts + its duration). */
  endPts: number;
  /** Colour and HDR metadata, when the container or the first frame says anything (colour.ts). */
  colour?: VideoColour;
}

export interface AudioTrackProbe {
  /** Index among the source's audio streams (ffmpeg `-map 0:a:N`). */
  index: number;
  codec: string;
  channels: number;
  sampleRate: number;
  /** ISO 639 language code, "und" when unknown. */
  language: string;
  title?: string;
  isDefault: boolean;
  /** Start and end of presented audio, seconds on the source timeline: the start is the first decoded sample's (after any pre-skip), as ffmpeg decodes it. */
  startSeconds: number;
  endSeconds: number;
  /**
   * The container's clock is coarser than one sample (Matroska/WebM and FLV
   * count milliseconds, AVI whole frames), so a packet's time need not say
   * which sample it starts on: spans then locate samples by an index
   * (transcode/sample-index.ts).
   */
  coarseTimestamps?: true;
}

/** A subtitle stream inside the source (see subtitle-streams.ts). */
export interface SubtitleStreamProbe {
  /** Index among the source's subtitle streams (ffmpeg `-map 0:s:N`). */
  index: number;
  /** ffmpeg's codec name: subrip, ass, mov_text, webvtt, hdmv_pgs_subtitle, dvd_subtitle, … */
  codec: string;
  /** ISO 639 language code, "und" when unknown. */
  language: string;
  title?: string;
  isDefault: boolean;
  isForced: boolean;
  /** Flagged for the hearing impaired (SDH). */
  isHearingImpaired: boolean;
}

export interface ProbeResult {
  /** Which probe read the file. */
  prober: 'mp4box' | 'ffprobe';
  container: string;
  /** The demuxer's start_time in seconds (min of the tracks' first presentation times). */
  startSeconds: number;
  durationSeconds: number;
  video: VideoTrackProbe;
  audio: AudioTrackProbe[];
  /** Subtitle streams inside the file (absent in probes that predate them: none). */
  subtitles?: SubtitleStreamProbe[];
}
