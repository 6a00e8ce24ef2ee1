/**
 * Thrown when the file is not something the MP4 fast path can handle (no
 * moov, fragmented file, no usable video track, odd tables…). The caller
 * falls back to ffprobe, which is slower but handles everything ffmpeg can
 * read. (A file whose tables are impossible is a ProbeError instead: ffmpeg
 * could not read it either.)
 */
export class Mp4ProbeUnsupportedError extends Error {
  override readonly name = 'Mp4ProbeUnsupportedError';
  constructor(readonly reason: string) {
    super(`mp4 fast probe not possible: ${reason}`);
  }
}
