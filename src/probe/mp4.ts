/**
 * Fast probe for MP4 / MOV / M4V: everything we need is in the `moov` box.
 *
 * We walk the top-level box headers with a handful of tiny reads (the `mdat`,
 * which holds all the media and may be many gigabytes, is skipped by its size
 * and never read), read just `moov` into memory and let mp4box.js parse the
 * box tree. We do NOT use `createFile().appendBuffer()`: that also builds
 * mp4box's per-sample objects (hundreds of thousands of JS objects for a long
 * file). Even mp4box's plain box parsing is too slow for a long file's sample
 * tables (it reads stsz/stco/ctts entry by entry into JS arrays: ~40 ms warm,
 * 100-200 ms cold for 2 hours), so those tables are cut out of the buffer
 * before mp4box sees it and read directly into typed arrays; mp4box parses the
 * structure (tracks, headers, sample entries, edit lists).
 *
 * Timestamps must equal what ffmpeg's mov demuxer reports (`ffprobe
 * -show_entries packet=pts`), because the planner cuts with ffmpeg
 * (`trim=start_pts=…`, `-copyts`) on exactly these numbers. ffmpeg does not
 * simply compute "cts - media_time": it rebuilds its packet index from the edit
 * list (libavformat/mov.c `mov_build_index` + `mov_fix_index`, FFmpeg 5.1),
 * which marks out-of-edit packets as discarded, re-bases timestamps and then
 * shifts the track so its first presented pts is exactly the empty-edit offset.
 * That algorithm is ported (mp4/ffmpeg-index.ts `buildFfmpegIndex`,
 * mp4/edit-list.ts `applyEditListLikeFfmpeg`), including its quirks, rather
 * than re-derived from the spec.
 *
 * Files: mp4/file-io.ts (reads), mp4/boxes.ts (box tree, where the tables
 * are), mp4/sample-tables.ts (the tables), mp4/ffmpeg-index.ts and
 * mp4/edit-list.ts (ffmpeg's index), mp4/presented-frames.ts (frame list),
 * mp4/tracks.ts (per track), mp4/codecs.ts, mp4/display.ts,
 * mp4/closed-gop.ts (which keyframes are cut points).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { MP4BoxBuffer } from 'mp4box';
import type { AudioTrackProbe, ProbeResult, VideoTrackProbe } from './types.js';
import { assembleProbeResult } from './result.js';
import { ProbeError } from './errors.js';
import { assertClaimsFit } from './mp4/claims.js';
import { extractSampleTables, parseQuietly, tablesOf, type MoovLike } from './mp4/boxes.js';
import { keepClosedGopKeyframes, type MoovAnalysis, type SyncSampleCheck } from './mp4/closed-gop.js';
import { MP4_TEXT_HANDLERS } from './subtitle-streams.js';
import { MAX_MOOV_BYTES, readFully, readHead, scanTopLevelBoxes } from './mp4/file-io.js';
import { readFirstPicture, type FirstPicture } from './mp4/first-picture.js';
import { analyzeAudioTrack, analyzeVideoTrack } from './mp4/tracks.js';
import { Mp4ProbeUnsupportedError } from './mp4/unsupported.js';

export { Mp4ProbeUnsupportedError } from './mp4/unsupported.js';
export { HEAD_BYTES, readHead } from './mp4/file-io.js';
export { normalizeRotation } from './mp4/display.js';
export type { FirstPicture } from './mp4/first-picture.js';
export { keepClosedGopKeyframes, type MoovAnalysis, type SyncSampleCheck } from './mp4/closed-gop.js';

export async function probeMp4(path: string): Promise<ProbeResult> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new ProbeError('unreadable', `cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await probeOpenMp4(fh, path);
  } finally {
    await fh.close();
  }
}

/**
 * probeMp4 on a file the caller has open (and closes). `head` is the file's
 * first bytes when the caller has read them already (up to HEAD_BYTES).
 * Reads: that head, the header of the first box beyond it (the moov's, when
 * the moov follows the mdat), and the moov in one read (none when the head
 * holds it).
 */
export async function probeOpenMp4(fh: FileHandle, path: string, head?: Buffer): Promise<ProbeResult> {
  return (await probeOpenMp4WithPicture(fh, path, head)).probe;
}

/** probeOpenMp4, with the first keyframe as a standalone stream when the track is H.264/HEVC (for decode-check.ts). */
export async function probeOpenMp4WithPicture(
  fh: FileHandle,
  path: string,
  head?: Buffer,
): Promise<{ probe: ProbeResult; firstPicture: FirstPicture | undefined; textTracks: boolean }> {
  try {
    const size = (await fh.stat()).size;
    const start = head ?? (await readHead(fh));
    const top = await scanTopLevelBoxes(fh, size, start);
    if (!top.moov) throw new Mp4ProbeUnsupportedError('no moov box');
    if (top.moov.size > MAX_MOOV_BYTES) {
      throw new ProbeError('impossible', `its moov box of ${top.moov.size} bytes is larger than the ${MAX_MOOV_BYTES}-byte limit`);
    }
    const moovBuf = new MP4BoxBuffer(top.moov.size);
    moovBuf.fileStart = 0;
    const { offset, size: moovSize } = top.moov;
    if (offset + moovSize <= start.length) new Uint8Array(moovBuf).set(start.subarray(offset, offset + moovSize));
    else await readFully(fh, new Uint8Array(moovBuf), offset);
    const analysis = analyzeMoov(moovBuf, top.majorBrand, size);
    const probe = await keepClosedGopKeyframes(fh, analysis);
    return { probe, firstPicture: analysis.syncSamples && (await readFirstPicture(fh, analysis.syncSamples)), textTracks: analysis.textTracks === true };
  } catch (err) {
    // I/O failures (EISDIR, EIO, …) mean the file cannot be read at all.
    if (err instanceof Error && 'code' in err) {
      throw new ProbeError('unreadable', `cannot read ${path}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Analyze an in-memory `moov` box (the buffer starts at its header). The
 * buffer is modified: boxes we read ourselves are renamed so mp4box skips them.
 * `fileSize` bounds what constant-size sample tables may claim (unknown: unbounded).
 */
export function analyzeMoov(moovBuf: MP4BoxBuffer, majorBrand: string | undefined, fileSize = Number.POSITIVE_INFINITY): MoovAnalysis {
  const tables = extractSampleTables(new DataView(moovBuf));
  // Before mp4box or we allocate anything a table's count asks for.
  for (const trakTables of tables.values()) assertClaimsFit(trakTables, new DataView(moovBuf), fileSize);
  const iso = parseQuietly(moovBuf);
  const moov = (iso as unknown as { moov?: MoovLike }).moov;
  if (!moov) throw new Mp4ProbeUnsupportedError('moov could not be parsed');
  if (moov.mvex) throw new Mp4ProbeUnsupportedError('fragmented mp4 (mvex): samples live in moof boxes');
  const movieTimescale = moov.mvhd?.timescale ?? 0;
  if (!movieTimescale) throw new Mp4ProbeUnsupportedError('mvhd timescale is 0');
  const view = new DataView(moovBuf);

  let video: VideoTrackProbe | undefined;
  let syncSamples: SyncSampleCheck | undefined;
  const audio: AudioTrackProbe[] = [];
  const audioEnabled: boolean[] = [];
  let videoOrdinal = 0;
  let refusal: string | undefined;
  let textTracks = false;

  for (const trak of moov.traks ?? []) {
    const handler = trak.mdia?.hdlr?.handler;
    if (handler === 'vide') {
      const ordinal = videoOrdinal++;
      if (video) continue;
      // ffmpeg numbers every video track (`0:v:N`), usable or not; we take the
      // first one that actually has frames.
      const v = analyzeVideoTrack(trak, tablesOf(tables, trak), ordinal, movieTimescale, moov.mvhd?.matrix, view);
      if (v && 'refused' in v) refusal ??= v.refused;
      else if (v) ({ track: video, syncSamples } = v);
    } else if (handler !== undefined && MP4_TEXT_HANDLERS.has(handler)) {
      textTracks = true;
    } else if (handler === 'soun') {
      const a = analyzeAudioTrack(trak, tablesOf(tables, trak), audio.length, movieTimescale, view);
      audio.push(a);
      audioEnabled.push(((trak.tkhd?.flags ?? 0) & 1) !== 0);
    }
  }
  // An edit list that presents nothing: ffmpeg would output no frame either (and ffprobe takes long to say so).
  if (!video && refusal) throw new ProbeError('impossible', refusal);
  if (!video) throw new Mp4ProbeUnsupportedError('no video track with frames');

  // ffmpeg's muxer marks the default track with tkhd track_enabled.
  const container = majorBrand === 'qt  ' || majorBrand === undefined ? 'mov' : 'mp4';
  return { probe: assembleProbeResult('mp4box', container, video, audio, audioEnabled), syncSamples, ...(textTracks ? { textTracks: true as const } : {}) };
}

