/**
 * The real-world source corpus: the containers and codecs people actually
 * have, each made with ffmpeg's lavfi generators at test time, small and fast
 * (a few seconds, ≤ 720x480), so every item can be streamed and decoded end to
 * end in CI.
 */

export interface CorpusItem {
  name: string;
  /** File name under the media folder (its extension picks the container). */
  file: string;
  /** ffmpeg arguments after `-y` (inputs, codecs), without the output path. */
  args: string[];
  /** Run after the main command, e.g. a stream-copy cut: gets (generated, final) paths. */
  post?: (generated: string, final: string) => string[];
  expect: {
    /** Displayed size of the largest rendition, when it is not simply the coded size. */
    display?: { width: number; height: number };
    audioTracks: number;
    languages?: string[];
  };
}

const SECONDS = 6;
const video = (size: string, rate: string, seconds = SECONDS) => ['-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${rate}:duration=${seconds}`];
const tone = (frequency: number, rate = 48000, seconds = SECONDS, layout = 'stereo') => [
  '-f', 'lavfi', '-i', `sine=frequency=${frequency}:sample_rate=${rate}:duration=${seconds},aformat=channel_layouts=${layout}`,
];
const x264 = (...extra: string[]) => ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', ...extra];
const aac = ['-c:a', 'aac', '-b:a', '96k'];

/**
 * A frame's own number, drawn as a barcode across the top of a 320x240
 * picture: bit k of the frame number (LSB first) is a white or black
 * 32x32 block at x = 32k. The browser harness reads it back from every
 * presented frame (test/browser/harness.html, frameCode), so a test can
 * tell which source frame is on screen. 10 bits: 1024 frames.
 */
export const FRAME_CODE = { bits: 10, block: 32, width: 320, height: 240 } as const;

export function frameCodeFilter(): string {
  const { bits, block, width } = FRAME_CODE;
  const boxes = Array.from({ length: bits }, (_, k) => `drawbox=x=${k * block}:y=0:w=${block}:h=${block}:color=white:t=fill:enable='mod(floor(n/${2 ** k}),2)'`);
  return [`drawbox=x=0:y=0:w=${width}:h=${block}:color=black:t=fill`, ...boxes].join(',');
}

export const CORPUS: CorpusItem[] = [
  {
    name: 'H.264 B-pyramid 23.976 fps, AAC',
    file: 'bpyramid-23976.mp4',
    args: [...video('320x240', '24000/1001'), ...tone(440), ...x264('-preset', 'medium', '-bf', '3', '-x264-params', 'b-pyramid=normal:keyint=48'), ...aac],
    expect: { audioTracks: 1 },
  },
  {
    name: 'open-GOP H.264 (non-IDR I-frames)',
    file: 'open-gop.mp4',
    args: [...video('320x240', '25'), ...tone(500), ...x264('-preset', 'veryfast', '-x264-params', 'open-gop=1:keyint=30:min-keyint=30:scenecut=0'), ...aac],
    expect: { audioTracks: 1 },
  },
  {
    name: 'long GOP (10 s) with irregular keyframes',
    file: 'long-gop.mp4',
    args: [...video('320x240', '25', 16), ...tone(600, 48000, 16), ...x264('-x264-params', 'keyint=250:min-keyint=250:scenecut=0', '-force_key_frames', '0,1.3,11.7'), ...aac],
    expect: { audioTracks: 1 },
  },
  {
    name: 'variable frame rate (phone-style dropped frames)',
    file: 'vfr.mp4',
    args: [...video('320x240', '30'), ...tone(700), '-vf', "select='not(between(n,20,27))*not(between(n,70,74))*not(eq(mod(n,11),0))'", '-fps_mode', 'vfr', ...x264(), ...aac],
    expect: { audioTracks: 1 },
  },
  { name: '25 fps', file: 'fps25.mp4', args: [...video('320x240', '25'), ...tone(440), ...x264(), ...aac], expect: { audioTracks: 1 } },
  { name: '29.97 fps', file: 'fps2997.mp4', args: [...video('320x240', '30000/1001'), ...tone(440), ...x264(), ...aac], expect: { audioTracks: 1 } },
  { name: '59.94 fps', file: 'fps5994.mp4', args: [...video('320x240', '60000/1001'), ...tone(440), ...x264(), ...aac], expect: { audioTracks: 1 } },
  {
    name: 'MP4 edit list from a stream-copy cut between keyframes',
    file: 'edit-list.mp4',
    args: [...video('320x240', '25', 10), ...tone(440, 48000, 10), ...x264('-g', '50', '-bf', '2'), ...aac],
    post: (generated, final) => ['-ss', '1.3', '-i', generated, '-c', 'copy', '-y', final],
    expect: { audioTracks: 1 },
  },
  {
    name: 'MP4 with negative composition offsets (ctts v1)',
    file: 'negative-cts.mp4',
    args: [...video('320x240', '25'), ...tone(440), ...x264('-bf', '2'), ...aac, '-movflags', '+negative_cts_offsets'],
    expect: { audioTracks: 1 },
  },
  {
    name: 'MPEG-TS far from zero, MPEG-2 video, AC-3 5.1',
    file: 'broadcast.ts',
    args: [...video('320x240', '25'), ...tone(440, 48000, SECONDS, '5.1'), '-c:v', 'mpeg2video', '-b:v', '2M', '-c:a', 'ac3', '-b:a', '384k', '-output_ts_offset', '3600', '-f', 'mpegts'],
    expect: { audioTracks: 1 },
  },
  {
    name: 'MKV 10-bit HEVC, FLAC',
    file: 'hevc10.mkv',
    args: [...video('320x240', '24'), ...tone(440), '-c:v', 'libx265', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p10le', '-x265-params', 'log-level=error', '-c:a', 'flac'],
    expect: { audioTracks: 1 },
  },
  {
    name: 'WebM VP9, Opus',
    file: 'vp9.webm',
    args: [...video('320x240', '25'), ...tone(440), '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-c:a', 'libopus', '-b:a', '64k'],
    expect: { audioTracks: 1 },
  },
  {
    name: 'WebM VP9, Vorbis',
    file: 'vp9-vorbis.webm',
    args: [...video('320x240', '25'), ...tone(440, 44100), '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-c:a', 'libvorbis', '-q:a', '3'],
    expect: { audioTracks: 1 },
  },
  {
    name: 'AVI, MPEG-4 Part 2, MP3',
    file: 'old.avi',
    args: [...video('320x240', '25'), ...tone(440, 44100), '-c:v', 'mpeg4', '-q:v', '5', '-c:a', 'libmp3lame', '-b:a', '128k'],
    expect: { audioTracks: 1 },
  },
  {
    name: 'portrait phone clip (rotation in the display matrix)',
    file: 'phone-rotated.mp4',
    args: [...video('480x270', '30'), ...tone(440), ...x264(), ...aac],
    // FFmpeg 5.1 writes the rotate tag into the display matrix on stream copy only.
    post: (generated, final) => ['-i', generated, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', '-y', final],
    expect: { display: { width: 270, height: 480 }, audioTracks: 1 },
  },
  {
    name: 'anamorphic 720x480 at 16:9 (SAR 32:27)',
    file: 'anamorphic.mp4',
    args: [...video('720x480', '30000/1001'), ...tone(440), '-vf', 'setsar=32/27', ...x264(), ...aac],
    expect: { display: { width: 854, height: 480 }, audioTracks: 1 },
  },
  {
    name: 'odd dimensions 321x241 (FFV1 in MKV)',
    file: 'odd.mkv',
    // testsrc2 only makes even sizes; 4:4:4 allows odd ones.
    args: [...video('320x240', '25'), ...tone(440), '-vf', 'scale=321:241,format=yuv444p', '-c:v', 'ffv1', '-c:a', 'aac', '-b:a', '96k'],
    expect: { display: { width: 322, height: 242 }, audioTracks: 1 },
  },
  {
    name: 'mono AAC at 44.1 kHz',
    file: 'mono.mp4',
    args: [...video('320x240', '25'), ...tone(440, 44100, SECONDS, 'mono'), ...x264(), ...aac],
    expect: { audioTracks: 1 },
  },
  { name: 'no audio', file: 'silent.mp4', args: [...video('320x240', '25'), ...x264()], expect: { audioTracks: 0 } },
  {
    name: 'audio that starts 0.5 s after the video',
    file: 'late-audio.mkv',
    args: [...video('320x240', '25'), '-itsoffset', '0.5', ...tone(440, 48000, SECONDS - 1), ...x264(), ...aac],
    expect: { audioTracks: 1 },
  },
  {
    name: 'three audio tracks with languages (AAC, AC-3 5.1, Opus)',
    file: 'languages.mkv',
    args: [
      ...video('320x240', '25'), ...tone(440), ...tone(550, 48000, SECONDS, '5.1'), ...tone(660),
      '-map', '0:v', '-map', '1:a', '-map', '2:a', '-map', '3:a', ...x264(),
      '-c:a:0', 'aac', '-c:a:1', 'ac3', '-c:a:2', 'libopus',
      '-metadata:s:a:0', 'language=eng', '-metadata:s:a:1', 'language=fra', '-metadata:s:a:2', 'language=jpn',
      '-disposition:a:0', 'default', '-disposition:a:1', '0', '-disposition:a:2', '0',
    ],
    expect: { audioTracks: 3, languages: ['en', 'fr', 'ja'] },
  },
];

/**
 * Broadcast-style MPEG-TS, the kind people record off air: H.264 with
 * B-frames + AAC, timestamps far from zero (2.8 s: -output_ts_offset 1.4 plus
 * ffmpeg's default 1.4 s mux delay), the first audio frame one AAC frame
 * (21.3 ms) before the first picture; each frame carries its number (frameCodeFilter).
 */
function broadcastTs(seconds: number): CorpusItem {
  return {
    name: 'MPEG-TS H.264 B-frames + AAC, start 2.8 s',
    file: `broadcast-h264-${seconds}s-coded.ts`,
    args: [
      ...video('320x240', '25', seconds), ...tone(440, 48000, seconds), '-vf', frameCodeFilter(),
      ...x264('-g', '50', '-bf', '2'), ...aac, '-output_ts_offset', '1.4', '-f', 'mpegts',
    ],
    expect: { audioTracks: 1 },
  };
}

/** 30 s, so a player can switch renditions six times while it plays. */
export const BROADCAST_H264_TS: CorpusItem = broadcastTs(30);

