/**
 * libx265 for the HDR-keeping rendition (plan/hdr-rendition.ts): Main 10,
 * the plan's level, the source's colour in the VUI and its mastering display
 * and content light level as SEI on every keyframe (`hdr10`).
 */
import { hevcLevelArgument } from '../plan/hevc-level.js';
import type { VideoRendition } from '../plan/plan.js';
import type { HdrKeep } from '../plan/hdr-rendition.js';

export function hevcFilters(rendition: VideoRendition): string[] {
  return [`scale=w=${rendition.width}:h=${rendition.height}:flags=bicubic`, 'format=yuv420p10le'];
}

export function hevcEncoderArgs(rendition: VideoRendition, hdr: HdrKeep, preset: string): string[] {
  const params = [
    // One thread, no pool: x265's output then never depends on the machine or its load (as x264's, encoder-args.ts).
    'pools=none', 'frame-threads=1', 'lookahead-slices=0', 'wpp=0',
    // Closed GOPs: nothing in a segment refers to another segment.
    'open-gop=0',
    `level-idc=${hevcLevelArgument(rendition.levelIdc)}`, 'high-tier=0',
    `colorprim=${hdr.colorprim}`, `transfer=${hdr.transfer}`, `colormatrix=${hdr.colormatrix}`, `range=${hdr.range}`,
    ...(hdr.masterDisplay || hdr.maxCll ? ['hdr10=1'] : []),
    ...(hdr.masterDisplay ? [`master-display=${hdr.masterDisplay}`] : []),
    ...(hdr.maxCll ? [`max-cll=${hdr.maxCll}`] : []),
    'log-level=warning',
  ];
  return [
    '-c:v', 'libx265', '-preset', preset, '-crf', String(rendition.crf), '-profile:v', 'main10',
    '-maxrate', `${rendition.maxrateKbps}k`, '-bufsize', `${rendition.bufsizeKbps}k`,
    '-x265-params', params.join(':'),
    '-color_primaries', hdr.colorprim, '-color_trc', hdr.transfer, '-colorspace', hdr.colormatrix, '-color_range', hdr.range === 'full' ? 'pc' : 'tv',
  ];
}
