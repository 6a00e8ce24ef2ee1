/**
 * What the probe accepts, and what it may spend finding out. A file outside
 * these bounds is refused (415 with the reason) instead of planned: the
 * bounds are far beyond any real source, and each one guards the server or
 * the manifests (no Infinity, NaN or 0 in a playlist, no upscaled ladder, no
 * allocation sized by a claim the file's bytes cannot back).
 */
export const PROBE_LIMITS = {
  /** Longest source: 48 h (a week-long recording should be cut first). */
  maxDurationSeconds: 48 * 3600,
  /**
   * Most video frames: 4 million (46 h at 24 fps, 18.5 h at 60 fps). The MP4
   * probe keeps about 45 bytes per sample while it works, so this also caps
   * its typed arrays at about 180 MB.
   */
  maxFrames: 4_000_000,
  /** Widest and tallest picture, decoded or displayed (x264's own limit is 16384 too). */
  maxDimension: 16_384,
  /** Narrowest and shortest decoded picture: 16 px (one macroblock; the ladder never upscales, so smaller is not worth a stream). */
  minDimension: 16,
  /** Slowest average frame rate: one picture every 10 s (a slideshow). */
  minFrameRate: 0.1,
  /** Fastest average frame rate: 1000 fps (high-speed footage tops out near 960). */
  maxFrameRate: 1000,
  /** Largest moov read into memory (a 2 h file's is 3.6 MB; 48 h at 60 fps stays under 128 MB). */
  maxMoovBytes: 128 * 1024 * 1024,
} as const;

/**
 * What one probe may spend. The probe runs in a worker thread (pool.ts):
 * past the time budget the worker is terminated; its JS heap is capped by
 * V8; its typed arrays are capped by maxFrames above (V8 does not count them
 * in the heap). ffprobe and ffmpeg runs get the remaining time and a cap on
 * any single allocation (-max_alloc).
 */
export const PROBE_BUDGET = {
  /** Wall time of one probe from the moment a worker takes it (a 2 h MKV scan takes ~1 s). */
  timeMs: 30_000,
  /** V8 old-generation heap of a probe worker. */
  heapMb: 256,
  /** Largest single allocation ffprobe/ffmpeg may make while probing (-max_alloc). */
  toolMaxAllocBytes: 256 * 1024 * 1024,
  /** Probes running at once (one worker each); more wait in a queue. */
  workers: 2,
  /** Probes waiting for a worker; beyond this the origin is overloaded (503). */
  queue: 32,
} as const;
