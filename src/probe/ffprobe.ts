/**
 * Generic probe through ffprobe, for every container the mp4 fast path does not
 * handle (Matroska/WebM, MPEG-TS, AVI, FLV, fragmented MP4, …).
 *
 * Two ffprobe runs: one for streams/format (cheap, reads the header), one
 * packet scan of the chosen video stream (reads the whole file: that is the
 * only way to learn every frame's pts in containers without an index).
 * Timestamps are reported exactly as ffprobe/ffmpeg's demuxer sees them.
 */
import { subtitleStreams } from './subtitle-streams.js';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { ProcessError, run, runStreaming } from '../process/runner.js';
import { refusedDemuxer, sourceInput } from '../process/source-input.js';
import type { AudioTrackProbe, ProbeResult, VideoTrackProbe } from './types.js';
import { assembleProbeResult } from './result.js';
import { ProbeError } from './errors.js';
import { normalizeRotation } from './mp4/display.js';
import { AnnexBPictureScanner, nalCodecOf } from './random-access.js';
import { PROBE_BUDGET, PROBE_LIMITS } from './limits.js';
import { PacketScan } from './packet-scan.js';
import { sameTrack, scanMatroskaVideo, type MatroskaVideoScan } from './matroska/video-scan.js';
import { assertGeometry } from './validate.js';
import { colourFromFfprobe, type VideoColour } from './colour.js';

/**
 * Demuxers that "succeed" on arbitrary bytes by rendering them as text art
 * (tty for text files, bin/xbin/idf/adf by extension). They are not videos.
 */
const NOT_MEDIA_FORMATS = new Set(['tty', 'bin', 'xbin', 'idf', 'adf']);

interface FfprobeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  channels?: number;
  sample_rate?: string;
  time_base?: string;
  start_time?: string;
  duration?: string;
  disposition?: Record<string, number>;
  tags?: Record<string, string>;
  side_data_list?: Array<Record<string, unknown>>;
  color_range?: string;
  color_space?: string;
  color_transfer?: string;
  color_primaries?: string;
}

interface FfprobeFormat {
  format_name?: string;
  start_time?: string;
  duration?: string;
  tags?: Record<string, string>;
}

interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: FfprobeFormat;
}

/** `deadline`: Date.now() value by which every tool run must be done (they are killed then). */
export async function probeWithFfprobe(path: string, deadline = Date.now() + PROBE_BUDGET.timeMs): Promise<ProbeResult> {
  await assertReadableFile(path);
  // A Matroska file's own scan needs nothing from ffprobe: it runs beside it, and is used if it read ffprobe's stream.
  let abandoned = false;
  const matroska = scanMatroskaVideo(path, deadline, () => abandoned);
  matroska.catch(() => undefined); // awaited below only when ffprobe gets that far
  try {
    return await probeWithInfo(path, deadline, matroska);
  } finally {
    abandoned = true;
  }
}

async function probeWithInfo(path: string, deadline: number, matroska: Promise<MatroskaVideoScan | undefined>): Promise<ProbeResult> {
  const info = await runFfprobeJson(path, deadline);
  const format = info.format ?? {};
  const streams = info.streams ?? [];
  const formatName = format.format_name ?? '';
  if (NOT_MEDIA_FORMATS.has(formatName) || streams.length === 0) {
    throw new ProbeError('not-media', `not a media file (ffprobe format '${formatName || 'none'}', ${streams.length} streams)`);
  }

  // `-map 0:v:N` counts every video stream, attached pictures (cover art) included.
  const videoStreams = streams.filter((s) => s.codec_type === 'video');
  const videoOrdinal = videoStreams.findIndex((s) => !s.disposition?.attached_pic);
  const vs = videoStreams[videoOrdinal];
  if (!vs) {
    throw new ProbeError('no-video', `no video stream (streams: ${streams.map((s) => s.codec_type ?? '?').join(', ')})`);
  }

  // The decoder's size is known now: refuse an impossible one before reading the whole file.
  assertGeometry(vs.width ?? 0, vs.height ?? 0, validRatio(vs.sample_aspect_ratio) ?? '1:1');
  const audioStreams = streams.filter((s) => s.codec_type === 'audio');
  const ownScan = formatName === 'matroska,webm' ? matroska : Promise.resolve(undefined);
  const pictures = { count: videoStreams.filter((s) => !s.disposition?.attached_pic).length, ownScan };
  // The video scan reads the whole file; each audio start decodes a few packets: side by side.
  const [video, audioStarts] = await Promise.all([
    scanVideo(path, vs, videoOrdinal, deadline, pictures),
    Promise.all(audioStreams.map((_, i) => firstDecodedSeconds(path, i, deadline))),
  ]);
  const audio: AudioTrackProbe[] = audioStreams.map((s, i) => audioTrack(s, i, format, audioStarts[i]));
  const flagged = audioStreams.map((s) => s.disposition?.default === 1);
  return { ...assembleProbeResult('ffprobe', containerName(formatName, format, path), video, audio, flagged), subtitles: subtitleStreams(streams) };
}

async function assertReadableFile(path: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new ProbeError('unreadable', `cannot stat ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) throw new ProbeError('unreadable', `${path} is not a regular file`);
  if (st.size === 0) throw new ProbeError('not-media', 'empty file');
}

async function runFfprobeJson(path: string, deadline: number): Promise<FfprobeOutput> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...sourceInput(path)];
  const stdout = await runOnMedia('ffprobe', args, 'ffprobe cannot read the file', deadline);
  try {
    return JSON.parse(stdout) as FfprobeOutput;
  } catch (err) {
    throw new ProbeError('not-media', 'ffprobe produced unparsable output', { cause: err });
  }
}

/**
 * Run a tool on the source, within the probe's time budget and with a cap
 * on any single allocation (a crafted header must not make it allocate
 * gigabytes): its exit with an error is the file's fault (ProbeError
 * `not-media` with the tool's last line), running past the deadline too
 * (`impossible`); a tool that cannot start at all is an environment problem
 * and stays a plain error.
 */
export async function runOnMedia(tool: 'ffprobe' | 'ffmpeg', args: string[], failure: string, deadline: number, onStdout?: (chunk: Uint8Array) => void): Promise<string> {
  const bounded = ['-max_alloc', String(PROBE_BUDGET.toolMaxAllocBytes), ...args];
  const options = { timeoutMs: Math.max(1, deadline - Date.now()) };
  try {
    const { stdout } = onStdout ? await runStreaming(tool, bounded, onStdout, options) : await run(tool, bounded, options);
    return Buffer.from(stdout).toString('utf8');
  } catch (err) {
    if (err instanceof ProcessError && err.timedOut) {
      throw new ProbeError('impossible', `${failure}: reading the file took longer than the ${PROBE_BUDGET.timeMs / 1000} s probe budget`, { cause: err });
    }
    if (err instanceof ProcessError && err.exitCode !== undefined) {
      const refused = refusedDemuxer(err.log);
      if (refused) throw new ProbeError('not-media', `not a media file: it reads as '${refused}', which is not a media container`, { cause: err });
      throw new ProbeError('not-media', `${failure}: ${lastLine(err.log) || err.message}`, { cause: err });
    }
    throw err;
  }
}

function lastLine(text: string | undefined): string {
  const lines = (text ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

/** time_base "num/den" -> integer timescale `den` and the tick multiplier `num`. */
function parseTimeBase(tb: string | undefined): { num: number; den: number } {
  const m = /^(\d+)\/(\d+)$/.exec(tb ?? '');
  const num = m ? Number(m[1]) : 0;
  const den = m ? Number(m[2]) : 0;
  if (!num || !den) throw new ProbeError('not-media', `video stream has no usable time_base ('${tb ?? ''}')`);
  return { num, den };
}

/** How the file's video packets are read: one pass of our own over a Matroska file where it can, else the two scans. */
async function scanVideo(
  path: string,
  s: FfprobeStream,
  ordinal: number,
  deadline: number,
  file: { count: number; ownScan: Promise<MatroskaVideoScan | undefined> },
): Promise<VideoTrackProbe> {
  const { num, den } = parseTimeBase(s.time_base);
  const codec = s.codec_name ?? 'unknown';
  // A refusal (the probe's time budget) stands; any other failure of our scan (I/O, a parser exception) leaves it to ffprobe, as the MP4 path does.
  const own = await file.ownScan.catch((err: unknown) => {
    if (err instanceof ProbeError) throw err;
    return undefined;
  });
  const expected = { ordinal, count: file.count, codec, width: s.width ?? 0, height: s.height ?? 0, timeBase: { num, den } };
  const { packets, verdicts } = own && sameTrack(own, expected) ? own : await scanVideoPackets(path, codec, num, ordinal, deadline);
  return videoTrackOf(s, ordinal, den, packets, verdicts);
}

/**
 * The two whole-file scans: ffprobe's packet list of the stream, and (H.264/HEVC) an
 * ffmpeg copy of its keyframes to a pipe for their NAL types, side by side.
 * Exported for the test that compares it with the Matroska scan.
 */
export async function scanVideoPackets(
  path: string,
  codec: string,
  tickMultiplier: number,
  ordinal: number,
  deadline: number,
): Promise<{ packets: PacketScan; verdicts: boolean[] | undefined }> {
  // With time_base = num/den we report timescale = den and ticks = value * num,
  // so a time_base like 1001/24000 (AVI) stays exact.
  const packets = new PacketScan(tickMultiplier);
  const packetArgs = ['-v', 'error', '-select_streams', `v:${ordinal}`, '-show_entries', 'packet=pts,dts,duration,flags', '-of', 'compact', ...sourceInput(path)];
  // Both read the whole file; they run side by side.
  const [, pictureScanner] = await Promise.all([
    runOnMedia('ffprobe', packetArgs, 'ffprobe packet scan failed', deadline, (chunk) => packets.push(chunk)),
    scanKeyframePictures(path, codec, ordinal, deadline),
  ]);
  packets.end();
  return { packets, verdicts: pictureScanner?.verdicts(packets.keys.length) };
}

function videoTrackOf(s: FfprobeStream, ordinal: number, den: number, packets: PacketScan, verdicts: boolean[] | undefined): VideoTrackProbe {
  const codec = s.codec_name ?? 'unknown';
  if (packets.packets === 0) throw new ProbeError('no-video', 'the video stream has no frames');
  if (packets.overflowed) throw new ProbeError('impossible', `it has ${packets.packets} video frames, more than the ${PROBE_LIMITS.maxFrames} limit`);

  const framePts = packets.all.sortedUnique();
  // Open-GOP I-frames are flagged as keyframes too; keep the closed-GOP ones when the scan could tell them apart.
  const keyframePts = verdicts ? packets.keys.filtered((k) => verdicts[k] === true) : packets.keys.sortedUnique();
  const endPts = packets.lastPts + (packets.lastDuration ?? typicalFrameDelta(framePts));
  const durationTicks = endPts - framePts[0]!;
  return {
    index: ordinal,
    codec,
    width: s.width ?? 0,
    height: s.height ?? 0,
    sampleAspectRatio: validRatio(s.sample_aspect_ratio) ?? '1:1',
    rotation: streamRotation(s),
    timescale: den,
    frameRate: durationTicks > 0 ? framePts.length / (durationTicks / den) : 0,
    framePts,
    keyframePts,
    endPts,
    ...withColour(colourFromFfprobe(s)),
  };
}

const withColour = (colour: VideoColour | undefined) => (colour ? { colour } : {});

/**
 * The NAL types of the keyframe packets of an H.264/HEVC stream: ffmpeg
 * copies only the packets flagged as keyframes, as Annex B, to a pipe
 * (undefined for other codecs).
 */
async function scanKeyframePictures(path: string, codec: string, ordinal: number, deadline: number): Promise<AnnexBPictureScanner | undefined> {
  const nalCodec = nalCodecOf(codec);
  if (!nalCodec) return undefined;
  const scanner = new AnnexBPictureScanner(nalCodec);
  const args = ['-v', 'error', '-nostdin', ...sourceInput(path), '-map', `0:v:${ordinal}`, '-c', 'copy', '-bsf:v', 'noise=drop=not(key)', '-f', nalCodec, 'pipe:1'];
  try {
    await runOnMedia('ffmpeg', args, 'keyframe scan failed', deadline, (chunk) => scanner.push(chunk));
  } catch (err) {
    // Without the scan every flagged keyframe stays a cut point, as before it; the packet scan judges the file.
    if (err instanceof ProbeError) return undefined;
    throw err;
  }
  return scanner;
}

/** Median spacing between frames, the best guess for a last frame without a duration. */
function typicalFrameDelta(pts: number[]): number {
  if (pts.length < 2) return 0;
  const deltas: number[] = [];
  for (let i = 1; i < pts.length; i++) deltas.push(pts[i]! - pts[i - 1]!);
  deltas.sort((a, b) => a - b);
  return deltas[deltas.length >> 1]!;
}

function validRatio(r: string | undefined): string | undefined {
  const m = /^(\d+):(\d+)$/.exec(r ?? '');
  if (!m || Number(m[1]) === 0 || Number(m[2]) === 0) return undefined;
  return `${m[1]}:${m[2]}`;
}

/**
 * Clockwise display rotation (0/90/180/270), same convention as the mp4 probe:
 * ffprobe's display-matrix `rotation` is counter-clockwise (-90 means "turn 90°
 * clockwise", which is what ffmpeg's autorotate does), so it is negated. The
 * legacy `rotate` tag (older ffmpeg) is already clockwise.
 */
function streamRotation(s: FfprobeStream): number {
  for (const sd of s.side_data_list ?? []) {
    const r = sd['rotation'];
    if (typeof r === 'number' || (typeof r === 'string' && r !== '')) return normalizeRotation(-Number(r));
  }
  const tag = s.tags?.['rotate'];
  return tag ? normalizeRotation(Number(tag)) : 0;
}

function tag(s: { tags?: Record<string, string> }, name: string): string | undefined {
  if (!s.tags) return undefined;
  for (const [k, v] of Object.entries(s.tags)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** Matroska stores per-stream durations as a "DURATION" tag "HH:MM:SS.nnnnnnnnn". */
function parseClock(v: string | undefined): number | undefined {
  const m = /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(v ?? '');
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
}

function toSeconds(v: string | undefined): number | undefined {
  if (v === undefined || v === 'N/A') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * When the first decoded sample of an audio track is presented: the stream's
 * start_time is its first packet's, which for Opus (pre-skip) or AAC with a
 * codec delay in Matroska is earlier than the first sample the decoder keeps.
 * Decodes a few packets only.
 */
async function firstDecodedSeconds(path: string, ordinal: number, deadline: number): Promise<number | undefined> {
  const args = ['-v', 'error', '-select_streams', `a:${ordinal}`, '-read_intervals', '%+#8', '-show_frames', '-show_entries', 'frame=pts_time', '-of', 'csv=p=0', ...sourceInput(path)];
  let stdout: string;
  try {
    stdout = await runOnMedia('ffprobe', args, 'ffprobe cannot decode the audio', deadline);
  } catch (err) {
    // Undecodable first packets: the track's own start_time is the best guess left (the encode will say if it cannot decode).
    if (err instanceof ProbeError && err.kind === 'not-media') return undefined;
    throw err;
  }
  return toSeconds(stdout.split('\n').map((l) => l.trim().replace(/,$/, '')).find((l) => l !== '' && l !== 'N/A'));
}

/** Whether the stream's clock ticks are longer than one sample (e.g. 1/1000 at 48 kHz). */
function coarseClock(s: FfprobeStream): boolean {
  const [num, den] = (s.time_base ?? '').split('/').map(Number);
  const rate = Number(s.sample_rate ?? 0);
  return !!num && !!den && rate > 0 && num * rate > den;
}

function audioTrack(s: FfprobeStream, index: number, format: FfprobeFormat, decodedStart: number | undefined): AudioTrackProbe {
  const formatStart = toSeconds(format.start_time) ?? 0;
  const packetStart = toSeconds(s.start_time) ?? formatStart;
  const start = decodedStart ?? packetStart;
  const duration = toSeconds(s.duration);
  // Matroska has no per-stream duration; its muxers write a DURATION tag holding the track's end time (not its length).
  const taggedEnd = parseClock(tag(s, 'duration'));
  const end = duration !== undefined
    ? packetStart + duration
    : (taggedEnd ?? formatStart + (toSeconds(format.duration) ?? 0));
  const language = tag(s, 'language')?.trim().toLowerCase();
  const title = tag(s, 'title');
  const track: AudioTrackProbe = {
    index,
    codec: s.codec_name ?? 'unknown',
    channels: s.channels ?? 0,
    sampleRate: Number(s.sample_rate ?? 0) || 0,
    language: language && language !== 'und' ? language : 'und',
    isDefault: false, // decided by the caller across all tracks
    startSeconds: start,
    endSeconds: Math.max(start, end),
  };
  if (coarseClock(s)) track.coarseTimestamps = true;
  if (title) track.title = title;
  return track;
}

function containerName(formatName: string, format: FfprobeFormat, path: string): string {
  if (formatName.startsWith('mov,')) return tag(format, 'major_brand')?.trim() === 'qt' ? 'mov' : 'mp4';
  if (formatName === 'matroska,webm') return extname(path).toLowerCase() === '.webm' ? 'webm' : 'matroska';
  return formatName.split(',')[0] || 'unknown';
}
