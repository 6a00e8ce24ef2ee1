import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { setSequenceNumber } from '../src/package/fmp4.js';
import { packageSpans } from '../src/package/package.js';
import { makePlan, type Plan } from '../src/plan/plan.js';
import { probeSource } from '../src/probe/index.js';
import { encodeAudioRun } from '../src/transcode/audio-run.js';
import { parseM3u8, parseMpd } from './support/conformance.js';
import { lanes } from './support/lanes.js';
import { exec, ffprobeJson, mediaFolder } from './support/media.js';
import { encoderWith, testServer } from './support/server.js';

/**
 * Audio is encoded span by span, yet output sample k must be source sample k
 * (as ffmpeg decodes the whole source in one pass) for every source codec: at
 * the start, at every join, and with the source's A/V offset, in the HLS and
 * the DASH stream. The output is placed on the source by presentation time
 * (each stream's first frame time, relative to its first video frame), not by
 * searching: the signal is noise, so the output matches the source at one lag
 * only, which must be 0 from the very first source sample on, at both ends of
 * every segment. The first samples must carry the source's signal: an AAC
 * frame is decoded with the frame before it, so a stream that starts on the
 * source's first frame without the encoder's priming frame before it decodes
 * its first ~448 samples as silence.
 *
 * The origin makes each segment alone (a span); a run makes several at once
 * (transcode/audio-run.ts). Run-made segments must be the span-made ones byte
 * for byte, so a stream mixing them is sample-exact too.
 */

const RATE = 48_000;
const SECONDS = 10;
const SEGMENT_SECONDS = 3;
const video = ['-f', 'lavfi', '-i', `testsrc=size=160x120:rate=25:duration=${SECONDS}`];
const noise = (rate: number) => ['-f', 'lavfi', '-i', `anoisesrc=color=pink:seed=7:amplitude=0.3:sample_rate=${rate}:duration=${SECONDS},aformat=channel_layouts=stereo`];
const x264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p'];

const KINDS = [
  { name: 'AAC in MP4 (44.1 kHz)', file: 'aac.mp4', args: [...video, ...noise(44_100), ...x264, '-c:a', 'aac', '-b:a', '128k'] },
  { name: 'AAC in Matroska', file: 'aac.mkv', args: [...video, ...noise(48_000), ...x264, '-c:a', 'aac', '-b:a', '128k'] },
  { name: 'Opus in Matroska', file: 'opus.mkv', args: [...video, ...noise(48_000), ...x264, '-c:a', 'libopus', '-b:a', '96k'] },
  {
    name: 'Vorbis in WebM',
    file: 'vorbis.webm',
    args: [...video, ...noise(48_000), '-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '200k', '-g', '25', '-c:a', 'libvorbis', '-q:a', '4'],
  },
  { name: 'MP3 in AVI (44.1 kHz)', file: 'mp3.avi', args: [...video, ...noise(44_100), '-c:v', 'mpeg4', '-q:v', '5', '-g', '25', '-c:a', 'libmp3lame', '-b:a', '128k'] },
  {
    name: 'AC-3 in MPEG-TS',
    file: 'ac3.ts',
    args: [...video, ...noise(48_000), '-c:v', 'mpeg2video', '-g', '25', '-b:v', '500k', '-c:a', 'ac3', '-b:a', '192k', '-output_ts_offset', '3600', '-f', 'mpegts'],
  },
  { name: 'FLAC in Matroska', file: 'flac.mkv', args: [...video, ...noise(48_000), ...x264, '-c:a', 'flac'] },
];

/** Mono 48 kHz PCM as ffmpeg decodes the input in one pass. */
async function decodePcm(input: string, out: string): Promise<Float32Array> {
  await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', input, '-vn', '-ac', '1', '-af', `aresample=${RATE}`, '-f', 'f32le', out], { maxBuffer: 1 << 26 });
  const bytes = await readFile(out);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** Presentation time (s) of the first decoded frame of one stream. */
async function firstFrameTime(input: string, stream: string): Promise<number> {
  const { frames } = await ffprobeJson(['-select_streams', stream, '-read_intervals', '%+#8', '-show_frames', '-show_entries', 'frame=pts_time', input]);
  const time = frames?.map((f: { pts_time?: string }) => Number(f.pts_time)).find(Number.isFinite);
  if (time === undefined) throw new Error(`no ${stream} frame time in ${input}`);
  return time;
}

/** RMS of out[i] − src[i − lag] over [start, end); samples outside src count as silence. */
function rmsError(out: Float32Array, src: Float32Array, start: number, end: number, lag = 0): number {
  let sum = 0;
  for (let i = start; i < end; i++) {
    const j = i - lag;
    sum += (out[i]! - (j >= 0 && j < src.length ? src[j]! : 0)) ** 2;
  }
  return Math.sqrt(sum / (end - start));
}

/** The lag (samples, within ±range) at which the output matches the source best over [start, end). */
function bestLag(out: Float32Array, src: Float32Array, start: number, end: number, range: number): number {
  let best = 0;
  let bestError = rmsError(out, src, start, end, 0);
  for (let lag = -range; lag <= range; lag++) {
    const error = rmsError(out, src, start, end, lag);
    if (error < bestError) [best, bestError] = [lag, error];
  }
  return best;
}

let server: Awaited<ReturnType<typeof testServer>>;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'jitseg-audio-exact-'));
  const files: Record<string, string> = {};
  // Two ffmpeg runs at a time (two cores); each file is made the same way whatever runs beside it.
  const make = lanes(2);
  await Promise.all(
    KINDS.map((kind) =>
      make(async () => {
        files[kind.file] = path.join(work, kind.file);
        await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...kind.args, files[kind.file]!]);
      }),
    ),
  );
  // 3 s segments: a first one of 2 s, then 3 s ones: three joins in 10 s.
  server = await testServer(await mediaFolder(files), { segment_duration: SEGMENT_SECONDS, encoder: encoderWith({ preset: 'ultrafast' }) });
});

afterAll(async () => {
  await server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** The source's samples in the output's index space: source sample 0 at output index `at`; silence outside the source. */
function placed(src: Float32Array, at: number, length: number): Float32Array {
  const out = new Float32Array(length);
  for (let i = Math.max(0, at); i < length && i - at < src.length; i++) out[i] = src[i - at]!;
  return out;
}

/** Leading samples (of the first `limit`) from `from` on that are silent: |x| below 1e-4 (−80 dBFS). */
function leadingSilence(pcm: Float32Array, from: number, limit: number): number {
  let n = 0;
  while (n < limit && from + n < pcm.length && Math.abs(pcm[from + n]!) < 1e-4) n++;
  return n;
}

interface Decoded {
  pcm: Float32Array;
  /** Presentation time (s) of the first decoded audio sample, and of the first video frame, of the same presentation. */
  audioStart: number;
  videoStart: number;
}

async function decoded(audioInput: string, videoInput: string, out: string): Promise<Decoded> {
  return { pcm: await decodePcm(audioInput, out), audioStart: await firstFrameTime(audioInput, 'a:0'), videoStart: await firstFrameTime(videoInput, 'v:0') };
}

/**
 * Output sample k is source sample k: the output is laid on the source by presentation time (relative to each
 * one's first video frame); from the source's first sample on, the two match at lag 0 at both ends of every
 * segment, the first samples carry the source's signal, and the first source sample is found in the output where
 * its A/V offset says, to one sample.
 */
function expectSampleExact(label: string, source: Decoded, output: Decoded, durations: number[]): void {
  const { pcm: src } = source;
  const { pcm: out } = output;
  // Where source sample 0 falls in the output, by the two streams' presentation times.
  const byPts = (source.audioStart - source.videoStart - (output.audioStart - output.videoStart)) * RATE;
  const at = Math.round(byPts);
  expect(at, `${label}: the source's first sample lies inside the output`).toBeGreaterThanOrEqual(0);
  const aligned = placed(src, at, out.length);

  // Whole AAC frames up to the track's end as the container states it, the last one completed with silence. That
  // end can differ from the decoded one by up to a frame: MP4 AAC's end padding is decoded though its edit list
  // ends the track before it, Matroska Opus's is dropped (DiscardPadding) though the track's stated end includes it.
  expect(out.length % 1024, `${label}: whole AAC frames`).toBe(0);
  expect(out.length - at - src.length, `${label}: output length after the first source sample − source length`).toBeGreaterThan(-1024);
  expect(out.length - at - src.length, `${label}: output length after the first source sample − source length`).toBeLessThan(2048);
  const bounds = [0];
  for (const d of durations) bounds.push(bounds.at(-1)! + Math.round(d * RATE));
  expect(bounds.at(-1), `${label}: the manifest's durations add up to the decoded samples`).toBe(out.length);

  // Every segment, at its start (for the first one: the source's first sample) and at its end: lag 0.
  const window = 4096;
  const lags: string[] = [];
  for (let s = 0; s + 1 < bounds.length; s++) {
    const start = Math.max(bounds[s]!, at);
    const end = Math.min(bounds[s + 1]!, at + src.length);
    lags.push(`${bestLag(out, aligned, start, start + window, 1100)}/${bestLag(out, aligned, end - window, end, 1100)}`);
  }
  expect(lags.join(' '), `${label}: best lag at the start/end of each segment`).toBe(durations.map(() => '0/0').join(' '));

  // The first samples are the source's: no silence the source does not have, and as close to it as audio elsewhere.
  const blockErrors: number[] = [];
  for (let start = at + 1024; start + 1024 <= at + src.length; start += 1024) blockErrors.push(rmsError(out, aligned, start, start + 1024));
  const median = [...blockErrors].sort((a, b) => a - b)[blockErrors.length >> 1]!;
  expect(leadingSilence(out, at, 1024), `${label}: silent samples at the start (the source has ${leadingSilence(src, 0, 1024)})`).toBeLessThanOrEqual(leadingSilence(src, 0, 1024));
  for (const [from, to] of [[0, 64], [0, 1024]] as const) {
    expect(rmsError(out, aligned, at + from, at + to), `${label}: source samples ${from}–${to}`).toBeLessThan(median * 3);
  }
  // No click at a join: the 1024 samples across each join match the source as well as audio elsewhere does.
  for (const join of bounds.slice(1, -1)) expect(rmsError(out, aligned, join - 512, join + 512), `${label}: join at output sample ${join}`).toBeLessThan(median * 3);

  // A/V: the first source sample, found in the output by its signal, keeps the source's offset from the first
  // video frame to one sample.
  const found = at + bestLag(out, aligned, at, at + window, 1100);
  const sourceOffset = source.audioStart - source.videoStart;
  const outputOffset = output.audioStart + found / RATE - output.videoStart;
  expect(Math.abs(outputOffset - sourceOffset), `${label}: A/V offset ${outputOffset.toFixed(6)} s vs the source's ${sourceOffset.toFixed(6)} s`).toBeLessThanOrEqual(1 / RATE);
}

/** Every audio segment of a source made by one run, as the origin stores them. */
async function makeByRun(source: string, plan: Plan): Promise<Buffer[]> {
  const audio = plan.audio[0]!;
  const encoded = await encodeAudioRun(source, plan, audio, audio.segments, await mkdtemp(path.join(work, 'run-')));
  return (await packageSpans(encoded.spans, 'audio')).map((packaged, i) => Buffer.from(setSequenceNumber(packaged.segment, i + 1)));
}

/** The plan the origin makes for a source: the server's segment duration (its audio depends on nothing else the test changes). */
async function originPlan(source: string): Promise<Plan> {
  return makePlan(await probeSource(source), { ...defaultStreamingConfig(), segment_duration: SEGMENT_SECONDS });
}

/** The init and segments of an HLS media playlist, as served. */
async function servedSegments(playlistUri: string, playlist: { segments: Array<{ uri: string; map?: { uri: string } }> }): Promise<{ init: Buffer; segments: Buffer[] }> {
  const bytes = async (uri: string) => Buffer.from(await (await fetch(new URL(uri, playlistUri))).arrayBuffer());
  return { init: await bytes(playlist.segments[0]!.map!.uri), segments: await Promise.all(playlist.segments.map((s) => bytes(s.uri))) };
}

/**
 * Two kinds at a time on the one origin: each test reads only its own source's files and output, and most of a
 * test's time is waiting on the origin's encodes and ffmpeg's sequential reads of the segments.
 */
const lane = lanes(2);
describe('sample-exact audio', () => {
  it.concurrent.each(KINDS)('$name: output sample k is source sample k, from the first sample, at every join, with the A/V offset, in HLS and DASH', (kind) => lane(async () => {
    const source = path.join(work, kind.file);
    const src = await decoded(source, source, path.join(work, `${kind.file}.src.f32`));

    const master = `${server.url}/vod/${kind.file}/master.m3u8`;
    const hls = parseM3u8(await (await fetch(master)).text());
    const audioUri = new URL((Object.values(hls.mediaGroups.AUDIO.aac) as any[])[0].uri, master).href;
    const videoUri = new URL(hls.playlists[0].uri, master).href;
    const audioList = parseM3u8(await (await fetch(audioUri)).text());
    const durations = audioList.segments.map((s: { duration: number }) => s.duration);
    expect(durations.length).toBeGreaterThanOrEqual(4);
    expectSampleExact('HLS', src, await decoded(audioUri, videoUri, path.join(work, `${kind.file}.hls.f32`)), durations);

    // The same segments from one run: the bytes the origin served (made one by one), so any mix of run- and span-made
    // segments is the stream just found sample-exact.
    const served = await servedSegments(audioUri, audioList);
    const runMade = await makeByRun(source, await originPlan(source));
    expect(runMade.map((b, i) => (b.equals(served.segments[i]!) ? 'same' : `segment ${i + 1} differs`))).toEqual(served.segments.map(() => 'same'));

    const mpd = `${server.url}/vod/${kind.file}/manifest.mpd`;
    const dash = parseMpd(await (await fetch(mpd)).text(), { manifestUri: mpd });
    const dashAudio = (Object.values(dash.mediaGroups.AUDIO.audio) as any[])[0].playlists[0];
    const dashDurations = dashAudio.segments.map((s: { duration: number }) => s.duration);
    expectSampleExact('DASH', src, await decoded(mpd, mpd, path.join(work, `${kind.file}.dash.f32`)), dashDurations);
  }));
});
