import { Parser as M3u8Parser } from 'm3u8-parser';
import { parse as parseMpd } from 'mpd-parser';
import { expect } from 'vitest';
import { avcCodecString } from '../../src/package/fmp4.js';
import { AAC_PRIMING_FRAMES } from '../../src/plan/plan.js';
import type { CorpusItem } from './corpus.js';
import { exec, ffprobeJson } from './media.js';
import { cachedMedia } from './media-cache.js';

/**
 * "Plays as if encoded in one pass": a stream, decoded end to end by ffmpeg as
 * a client, must present the source's frames on the source's timestamps (up to
 * one constant shift) and audio of the source's length without a gap.
 */

export function corpusSource(item: CorpusItem): Promise<string> {
  const post = item.post;
  const steps = [(output: string) => [...item.args, output]];
  if (post) steps.push((output: string, previous?: string) => post(previous!, output));
  return cachedMedia({ file: item.file, folder: 'corpus', steps });
}

export interface Frame {
  pts: number;
  duration: number;
}

/** The time base of the first video stream of a URL, as a number of seconds per tick. */
async function videoTimeBase(url: string): Promise<number> {
  const { streams } = await ffprobeJson(['-select_streams', 'v:0', '-show_entries', 'stream=time_base', url]);
  const [num, den] = String(streams[0]?.time_base ?? '').split('/').map(Number);
  if (!num || !den) throw new Error(`no video time base for ${url}`);
  return num / den;
}

/**
 * Decodes one stream of a URL with -copyts (the stream's own timestamps, not
 * FFmpeg's guesses at the start) and returns each decoded frame's presentation
 * time and duration in seconds, as the showinfo/ashowinfo filters see them,
 * before any muxer could drop, duplicate or round frames. Times come from the
 * integer pts: the printed pts_time has only six significant digits.
 */
export async function decodeFrames(url: string, map: string): Promise<Frame[]> {
  const audio = /:a(:|$)/.test(map);
  const tick = audio ? undefined : await videoTimeBase(url);
  // Every frame is still decoded; showinfo's per-plane checksums (read by nobody here) cost 1.8 CPU-s besides the 2.4 of decoding main1080p.
  const { stderr } = await exec(
    'ffmpeg',
    ['-hide_banner', '-nostats', '-loglevel', 'info', '-copyts', '-i', url, '-map', map, audio ? '-af' : '-vf', audio ? 'ashowinfo' : 'showinfo=checksum=0', '-f', 'null', '-'],
    { maxBuffer: 1 << 28 },
  );
  const frames: Frame[] = [];
  for (const line of stderr.split('\n')) {
    if (!/Parsed_a?showinfo/.test(line)) continue;
    const pts = /\bpts:\s*(-?\d+)/.exec(line);
    if (!pts) continue;
    if (audio) {
      // ashowinfo counts in 1/sample_rate.
      const rate = Number(/\brate:\s*(\d+)/.exec(line)?.[1]);
      const samples = Number(/nb_samples:\s*(\d+)/.exec(line)?.[1]);
      frames.push({ pts: Number(pts[1]) / rate, duration: samples / rate });
    } else {
      frames.push({ pts: Number(pts[1]) * tick!, duration: 0 });
    }
  }
  if (frames.length === 0) throw new Error(`no frames decoded from ${url} (${map})`);
  if (!audio) {
    // showinfo gives video frames no duration: each lasts until the next; the last one as long as the one before.
    for (let i = 0; i + 1 < frames.length; i++) frames[i]!.duration = frames[i + 1]!.pts - frames[i]!.pts;
    frames.at(-1)!.duration = frames.at(-2)?.duration ?? 0;
  }
  return frames;
}

const audioSeconds = (frames: Frame[]) => frames.reduce((sum, f) => sum + f.duration, 0);

export function parseM3u8(text: string) {
  const parser = new M3u8Parser();
  parser.push(text);
  parser.end();
  return parser.manifest;
}

export { parseMpd };

export interface SourceTruth {
  video: Frame[];
  /** One entry per audio track. */
  audio: Frame[][];
}

export async function sourceTruth(file: string, audioTracks: number): Promise<SourceTruth> {
  const video = await decodeFrames(file, '0:v:0');
  const audio: Frame[][] = [];
  for (let i = 0; i < audioTracks; i++) audio.push(await decodeFrames(file, `0:a:${i}`));
  return { video, audio };
}

/** The stream's video frames must be the source's, on the same timeline up to one constant shift. */
export function expectSameVideo(label: string, stream: Frame[], source: Frame[]): void {
  expect(stream.length, `${label}: video frame count`).toBe(source.length);
  const shift = stream[0]!.pts - source[0]!.pts;
  const typical = source.length > 1 ? (source.at(-1)!.pts - source[0]!.pts) / (source.length - 1) : 0.04;
  for (let i = 0; i < stream.length; i++) {
    const drift = stream[i]!.pts - shift - source[i]!.pts;
    if (Math.abs(drift) > 0.002) {
      throw new Error(`${label}: frame ${i} at ${stream[i]!.pts.toFixed(4)} s should be at ${(source[i]!.pts + shift).toFixed(4)} s (off by ${(drift * 1000).toFixed(1)} ms)`);
    }
    if (i > 0) expect(stream[i]!.pts, `${label}: timestamps increase at frame ${i}`).toBeGreaterThan(stream[i - 1]!.pts);
  }
  const streamSpan = stream.at(-1)!.pts - stream[0]!.pts;
  const sourceSpan = source.at(-1)!.pts - source[0]!.pts;
  expect(Math.abs(streamSpan - sourceSpan), `${label}: video duration`).toBeLessThanOrEqual(typical);
}

/** The stream's audio is 48 kHz AAC: whole frames of 1024 samples. */
const OUTPUT_SAMPLE_SECONDS = 1 / 48000;
const AAC_FRAME_SECONDS = 1024 * OUTPUT_SAMPLE_SECONDS;

/**
 * The stream's frames that carry the source's samples: the stream starts with the AAC encoder's priming frame,
 * one frame before the source's first sample (the decoder needs it to decode that sample; see the plan).
 */
const sourceFrames = (stream: Frame[]) => stream.slice(AAC_PRIMING_FRAMES);

/**
 * Audio: the source's length within one AAC frame (the stream is the priming frame and whole frames), and every
 * frame starts on the sample where the previous one ended (half a sample: no gap or overlap at a join).
 */
export function expectContinuousAudio(label: string, stream: Frame[], source: Frame[]): void {
  const streamSeconds = audioSeconds(sourceFrames(stream));
  const sourceSeconds = audioSeconds(source);
  expect(Math.abs(streamSeconds - sourceSeconds), `${label}: audio duration ${streamSeconds.toFixed(4)} vs ${sourceSeconds.toFixed(4)}`).toBeLessThanOrEqual(AAC_FRAME_SECONDS + 0.0005);
  for (let i = 1; i < stream.length; i++) {
    const expected = stream[i - 1]!.pts + stream[i - 1]!.duration;
    if (Math.abs(stream[i]!.pts - expected) > OUTPUT_SAMPLE_SECONDS / 2) {
      throw new Error(`${label}: audio frame ${i} at ${stream[i]!.pts.toFixed(5)} s, expected ${expected.toFixed(5)} s (a gap or overlap at a join)`);
    }
  }
}

/**
 * A/V sync: the stream must keep the source's offset between the first audio
 * sample and the first video frame to one 48 kHz sample, and at the end to
 * within one video frame (no drift; the stream ends on a whole AAC frame at
 * the track end the container states, which can differ from the decoded end).
 */
export function expectAvSync(label: string, video: Frame[], sourceVideo: Frame[], audio: Frame[], sourceAudio: Frame[]): void {
  const frame = sourceVideo.length > 1 ? (sourceVideo.at(-1)!.pts - sourceVideo[0]!.pts) / (sourceVideo.length - 1) : 0.04;
  const videoShift = video[0]!.pts - sourceVideo[0]!.pts;
  const startShift = sourceFrames(audio)[0]!.pts - sourceAudio[0]!.pts;
  const end = (frames: Frame[]) => frames.at(-1)!.pts + frames.at(-1)!.duration;
  const endShift = end(audio) - end(sourceAudio);
  expect(Math.abs(startShift - videoShift), `${label}: A/V offset at the start`).toBeLessThanOrEqual(OUTPUT_SAMPLE_SECONDS);
  expect(Math.abs(endShift - videoShift), `${label}: A/V offset at the end`).toBeLessThan(frame);
}

/** Video segments fetched one by one: bytes per second never above the declared peak. */
export async function measuredPeakBitrate(playlistUrl: string): Promise<number> {
  const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
  let peak = 0;
  for (const segment of playlist.segments) {
    const bytes = (await (await fetch(new URL(segment.uri, playlistUrl))).arrayBuffer()).byteLength;
    peak = Math.max(peak, (bytes * 8) / segment.duration);
  }
  return peak;
}

export async function initCodec(playlistUrl: string): Promise<string | undefined> {
  const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
  const init = await (await fetch(new URL(playlist.segments[0].map.uri, playlistUrl))).arrayBuffer();
  return avcCodecString(new Uint8Array(init));
}

export async function streamGeometry(url: string): Promise<{ width: number; height: number; sar: string }> {
  const { streams } = await ffprobeJson(['-select_streams', 'v:0', '-show_entries', 'stream=width,height,sample_aspect_ratio', url]);
  return { width: streams[0].width, height: streams[0].height, sar: streams[0].sample_aspect_ratio ?? '1:1' };
}
