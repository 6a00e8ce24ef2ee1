/** One track of the moov: a video track's frame timeline, an audio track's extent. */
import type { AudioTrackProbe, VideoTrackProbe } from '../types.js';
import { decodedSize, type PictureSize } from '../parameter-sets.js';
import { nalCodecOf } from '../random-access.js';
import { decoderConfigRecord, type SampleEntryLike, type SampleTables, type TrakLike } from './boxes.js';
import { syncSampleCheck, type SyncSampleCheck } from './closed-gop.js';
import { audioCodecName, audioFormat, mdhdLanguage, videoCodecName } from './codecs.js';
import { clockwiseRotation, reduceRatio } from './display.js';
import { readColourBoxes } from './colour-boxes.js';
import { applyEditListLikeFfmpeg, presentAll, readEdits } from './edit-list.js';
import { buildFfmpegIndex, sampleDuration } from './ffmpeg-index.js';
import { collectFrames, sortedUnique } from './presented-frames.js';
import { mediaExtent } from './sample-tables.js';

export function analyzeVideoTrack(
  trak: TrakLike,
  tables: SampleTables,
  ordinal: number,
  movieTimescale: number,
  movieMatrix: ArrayLike<number> | undefined,
  view: DataView,
): { track: VideoTrackProbe; syncSamples: SyncSampleCheck | undefined } | { refused: string } | undefined {
  const stbl = trak.mdia?.minf?.stbl;
  const timescale = trak.mdia?.mdhd?.timescale ?? 0;
  const entry = stbl?.stsd?.entries[0];
  if (!stbl || !timescale || !entry) return undefined;

  const index = buildFfmpegIndex(tables, view);
  if (!index || index.n === 0) return undefined;
  const edits = readEdits(tables.elst, view, timescale, movieTimescale);
  const packets = edits ? applyEditListLikeFfmpeg(index, edits) : presentAll(index);
  if (packets.count === 0) return { refused: `the edit list presents none of the video track's ${index.n} frames` };
  const { framePts, keyPts, keySrc, maxPts, maxPtsSrc } = collectFrames(packets, index.key);
  const keyframePts = sortedUnique(keyPts.slice());
  const endPts = maxPts + sampleDuration(index, maxPtsSrc);
  const first = framePts[0]!;
  const durationTicks = endPts - first;

  const sar = entry.pasp && entry.pasp.hSpacing > 0 && entry.pasp.vSpacing > 0
    ? reduceRatio(entry.pasp.hSpacing, entry.pasp.vSpacing)
    : '1:1';
  const tkhd = trak.tkhd;
  const codec = videoCodecName(entry);
  const { width, height } = pictureSize(codec, entry, tkhd, view);
  const track: VideoTrackProbe = {
    index: ordinal,
    codec,
    width,
    height,
    sampleAspectRatio: sar,
    rotation: clockwiseRotation(tkhd?.matrix, movieMatrix),
    timescale,
    frameRate: durationTicks > 0 ? framePts.length / (durationTicks / timescale) : 0,
    framePts,
    keyframePts,
    endPts,
  };
  const colour = readColourBoxes(entry, view);
  if (colour) track.colour = colour;
  return { track, syncSamples: syncSampleCheck(codec, entry, keyPts, keySrc, tables, view) };
}

/**
 * What the decoder will output: the SPS's size for H.264/HEVC (a header may
 * claim anything), else the sample entry's, else the track header's.
 */
function pictureSize(codec: string, entry: SampleEntryLike, tkhd: TrakLike['tkhd'], view: DataView): PictureSize {
  const nalCodec = nalCodecOf(codec);
  const record = nalCodec && decoderConfigRecord(entry, nalCodec, view);
  const decoded = nalCodec && record ? decodedSize(nalCodec, record) : undefined;
  if (decoded) return decoded;
  return {
    width: entry.width || Math.round((tkhd?.width ?? 0) / 65536),
    height: entry.height || Math.round((tkhd?.height ?? 0) / 65536),
  };
}

export function analyzeAudioTrack(
  trak: TrakLike,
  tables: SampleTables,
  index: number,
  movieTimescale: number,
  view: DataView,
): AudioTrackProbe {
  const stbl = trak.mdia?.minf?.stbl;
  const timescale = trak.mdia?.mdhd?.timescale || 1;
  const entry = stbl?.stsd?.entries[0];
  const { channels, sampleRate } = audioFormat(entry, view);

  // Audio needs no per-frame list, only where presentation starts and ends.
  // ffmpeg starts an audio track exactly at the sum of its leading empty edits
  // (it trims the partial first packet with skip_samples), and each further
  // edit presents min(segment_duration, media left after media_time).
  let startTicks = 0;
  let endTicks = 0;
  const media = mediaExtent(tables, view);
  const edits = readEdits(tables.elst, view, timescale, movieTimescale);
  if (!edits) {
    startTicks = media.firstCts;
    endTicks = media.end;
  } else {
    let i = 0;
    for (; i < edits.length && edits[i]!.mediaTime === -1; i++) startTicks += edits[i]!.duration;
    endTicks = startTicks;
    for (; i < edits.length; i++) {
      const e = edits[i]!;
      if (e.mediaTime < 0) continue;
      endTicks += Math.max(0, Math.min(e.duration, media.end - e.mediaTime));
    }
  }
  const track: AudioTrackProbe = {
    index,
    codec: entry ? audioCodecName(entry, view) : 'unknown',
    channels,
    sampleRate,
    language: mdhdLanguage(trak.mdia?.mdhd?.language),
    isDefault: false, // decided by the caller once all tracks are known
    startSeconds: startTicks / timescale,
    endSeconds: endTicks / timescale,
  };
  // An audio track almost always counts in its own samples; one that counts coarser (e.g. 1/1000) needs the sample index.
  if (sampleRate > 0 && timescale < sampleRate) track.coarseTimestamps = true;
  return track;
}

