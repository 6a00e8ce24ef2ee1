/**
 * The bit rates manifests declare: an average and a peak per rendition, from
 * the size of each segment. A segment that exists counts with its measured
 * size; one not made yet with an upper bound of what it can weigh, so the
 * figures are never below what the segments measure, before encoding and at
 * every step after (the bound of a segment is never below its size, and a
 * sum or a window of them is then never below theirs).
 *
 * Definitions (RFC 8216 §4.1, §4.3.4.2): a segment's bit rate is its size
 * over its EXTINF duration, container included, its init section not (it is
 * fetched once); AVERAGE-BANDWIDTH is the average segment bit rate. The peak
 * (BANDWIDTH, and DASH @bandwidth, which dash.js and Shaka pick renditions
 * by) is the highest single segment's bit rate: what a player fetching one
 * segment at a time needs, and never below RFC 8216's peak (the rate of a run
 * of 0.5–1.5 target durations, an average of its segments' rates).
 */

/** One segment: its size (measured, or the bound) and its duration. */
export interface SegmentWeight {
  bits: number;
  ticks: number;
}

/** Bits per second, rounded up. */
export interface BitrateFigures {
  average: number;
  peak: number;
}

/**
 * Bytes of fMP4 around a segment's media, at most: styp, sidx, the moof's
 * headers and the mdat header measure 250–290 bytes on today's segments.
 */
const SEGMENT_BOX_BYTES = 1024;
/**
 * Bytes a video sample adds, at most: its trun entry (16 with all four
 * fields), and where the encoder's access unit had a 3-byte start code the
 * packager writes a 4-byte length (measured 16 per sample today).
 */
const VIDEO_SAMPLE_BOX_BYTES = 24;
/** Bytes an AAC frame adds, at most: its trun entry (4 measured: the size; 8 with a duration). */
const AUDIO_SAMPLE_BOX_BYTES = 8;
/**
 * FFmpeg's AAC encoder is not constant-rate: over any 2 s of its output the
 * rate measured up to 7.2 % above the target (white noise after silence at
 * 256 kb/s; 1.2 % on steady noise, 3.9 % at 32 kb/s), and a segment is at
 * least 2 s long but its last.
 */
const AAC_RATE_MARGIN = 1.08;

/**
 * The most bits a libx264 video segment can carry. Every segment is its own
 * encode, and its VBV lets it spend `maxrate × duration` plus what the
 * buffer holds at the start: FFmpeg starts it ¾ full (rc_initial_buffer_occupancy),
 * so a whole buffer leaves a quarter of a buffer for x264's VBV tolerance.
 * Measured on white noise, the worst case: 0.36–0.39 of a buffer above
 * `maxrate × duration`, fMP4 boxes included.
 */
export function videoSegmentBitsBound(maxrateKbps: number, bufsizeKbps: number, ticks: number, timescale: number, frames: number): number {
  return maxrateKbps * 1000 * (ticks / timescale) + bufsizeKbps * 1000 + 8 * (SEGMENT_BOX_BYTES + VIDEO_SAMPLE_BOX_BYTES * frames);
}

/** The most bits an AAC segment of `frames` frames can carry (see AAC_RATE_MARGIN). */
export function audioSegmentBitsBound(bitrateKbps: number, ticks: number, timescale: number, frames: number): number {
  return bitrateKbps * 1000 * AAC_RATE_MARGIN * (ticks / timescale) + 8 * (SEGMENT_BOX_BYTES + AUDIO_SAMPLE_BOX_BYTES * frames);
}

/** The average and the peak bit rate of a rendition's segments. */
export function bitrateFigures(segments: readonly SegmentWeight[], timescale: number): BitrateFigures {
  let bits = 0;
  let ticks = 0;
  let peak = 0;
  for (const segment of segments) {
    bits += segment.bits;
    ticks += segment.ticks;
    peak = Math.max(peak, (segment.bits * timescale) / segment.ticks);
  }
  return ticks > 0 ? { average: Math.ceil((bits * timescale) / ticks), peak: Math.ceil(peak) } : { average: 0, peak: 0 };
}
