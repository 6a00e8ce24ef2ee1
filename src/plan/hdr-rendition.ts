/**
 * `streaming.hdr: keep`: beside the tone-mapped H.264 ladder, one HEVC Main 10
 * rendition that keeps an HDR source's PQ or HLG picture, its colour and its
 * mastering display / content light level (as SEI, from x265), for players
 * that decode HEVC and screens that show HDR. Players that cannot decode it
 * leave it by its CODECS. It has the size and bit-rate cap of the ladder's top
 * rendition.
 */
import { createHash } from 'node:crypto';
import type { VideoColour } from '../probe/colour.js';
import { bitrateFigures, videoSegmentBitsBound } from './bandwidth.js';
import { hevcLevelIdc, hevcMain10CodecString } from './hevc-level.js';
import type { ToneMap } from './tone-map.js';
import { OUTPUT_TIMESCALE, PIPELINE_VERSION, VIDEO_FORMAT_VERSION, type EncoderSettings, type VideoRendition, type VideoSegment } from './plan.js';

/** What x265 is told about the picture it keeps (x265's own option names and spellings). */
export interface HdrKeep {
  colorprim: string;
  transfer: string;
  colormatrix: string;
  range: 'limited' | 'full';
  /** "G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)" in the SEI's units, when the source has one. */
  masterDisplay?: string;
  /** "MaxCLL,MaxFALL", when the source has them. */
  maxCll?: string;
}

export function hdrKeepOf(toneMap: ToneMap, colour: VideoColour | undefined): HdrKeep {
  const keep: HdrKeep = {
    colorprim: toneMap.primaries,
    transfer: toneMap.transfer,
    colormatrix: toneMap.matrix,
    range: toneMap.range === 'pc' ? 'full' : 'limited',
  };
  const m = colour?.mastering;
  if (m) {
    const xy = ([x, y]: [number, number]) => `(${x},${y})`;
    keep.masterDisplay = `G${xy(m.green)}B${xy(m.blue)}R${xy(m.red)}WP${xy(m.whitePoint)}L(${m.maxLuminance},${m.minLuminance})`;
  }
  if (colour?.contentLight) keep.maxCll = `${colour.contentLight.maxCll},${colour.contentLight.maxFall}`;
  return keep;
}

export function hdrRendition(
  top: VideoRendition,
  toneMap: ToneMap,
  colour: VideoColour | undefined,
  fps: number,
  segments: VideoSegment[],
  cutsKey: string,
  encoder: EncoderSettings,
): VideoRendition {
  const { width, height, maxrateKbps, bufsizeKbps, crf } = top;
  const levelIdc = hevcLevelIdc(width, height, fps, maxrateKbps);
  const hdr = hdrKeepOf(toneMap, colour);
  const settings = { v: PIPELINE_VERSION, format: VIDEO_FORMAT_VERSION, codec: 'hevc-main10', width, height, maxrateKbps, bufsizeKbps, crf, levelIdc, preset: encoder.preset, hdr, cutsKey };
  const bounds = bitrateFigures(
    segments.map((s) => ({ bits: videoSegmentBitsBound(maxrateKbps, bufsizeKbps, s.duration, OUTPUT_TIMESCALE, s.frameCount), ticks: s.duration })),
    OUTPUT_TIMESCALE,
  );
  const name = `${top.name}-hdr`;
  return {
    id: `${name}-${createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 10)}`,
    name,
    width,
    height,
    bitrateKbps: top.bitrateKbps,
    maxrateKbps,
    bufsizeKbps,
    crf,
    levelIdc,
    codecs: hevcMain10CodecString(levelIdc),
    peakBandwidth: bounds.peak,
    averageBandwidth: bounds.average,
    videoRange: toneMap.from,
    hevc: hdr,
  };
}
