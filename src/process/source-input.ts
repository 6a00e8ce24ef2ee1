/**
 * How ffmpeg and ffprobe may read a source: the one local file, through the
 * file protocol only, with a real media demuxer. A file that is really a
 * playlist (HLS, DASH), a concat script, an SDP or an image sequence is
 * refused instead of followed, so a crafted "video" can never make the tools
 * open another file or the network.
 */

/** Demuxers of media containers and raw streams; none of them opens another resource. */
export const MEDIA_DEMUXERS = [
  'mov', 'matroska', 'mpegts', 'mpegtsraw', 'avi', 'flv', 'mpeg', 'mpegvideo', 'asf', 'ogg', 'mxf', 'nut',
  'h264', 'hevc', 'm4v', 'dv', 'ivf', 'rm', 'gxf', 'wtv', 'obu', 'vc1', 'yuv4mpegpipe',
] as const;

/** Input options for a source (before its URL). */
export const SOURCE_INPUT_OPTIONS: readonly string[] = ['-protocol_whitelist', 'file', '-format_whitelist', MEDIA_DEMUXERS.join(',')];

/**
 * The URL of a source path: the explicit file protocol, so a name such as
 * "clip:1.mp4" or one starting with "-" is never taken for a protocol or an
 * option.
 */
export function sourceUrl(path: string): string {
  return `file:${path}`;
}

/** ffmpeg/ffprobe input arguments for a source. */
export function sourceInput(path: string): string[] {
  return [...SOURCE_INPUT_OPTIONS, '-i', sourceUrl(path)];
}

/** The demuxer ffmpeg refused, from its log ("[hls @ 0x…] Format not on whitelist …"). */
export function refusedDemuxer(log: string): string | undefined {
  return /\[(\w+) @ 0x[0-9a-f]+\] Format not on whitelist/.exec(log)?.[1];
}
