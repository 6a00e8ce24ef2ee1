/**
 * The tone-mapping filter chain for HDR sources (plan/tone-map.ts). This
 * ffmpeg (Debian's 5.1) has libzimg, so zscale does the colour science and
 * FFmpeg's `tonemap` the curve:
 *
 *  1. zscale: from the source's transfer, primaries, matrix and range (given
 *     explicitly: a decoder that misses them would make every frame differ)
 *     to linear light, 100 cd/m² = 1.0, resized to the rendition;
 *  2. planar float RGB, BT.2020 → BT.709 primaries;
 *  3. tonemap=hable with the plan's peak and no desaturation;
 *  4. zscale to BT.709 transfer and matrix, limited range; 8-bit 4:2:0.
 *
 * Each step works on one frame alone with fixed constants and no dithering,
 * so a frame comes out the same whichever segment's decode it is in.
 */
import type { ToneMap } from '../plan/tone-map.js';

/** zscale's linear light: this many cd/m² are 1.0. */
export const NOMINAL_PEAK_NITS = 100;

export function toneMapFilters(toneMap: ToneMap, width: number, height: number): string[] {
  const peak = toneMap.peakNits / NOMINAL_PEAK_NITS;
  return [
    `zscale=w=${width}:h=${height}:f=bicubic:tin=${toneMap.transfer}:pin=${toneMap.primaries}:min=${toneMap.matrix}:rin=${toneMap.range}:t=linear:npl=${NOMINAL_PEAK_NITS}`,
    'format=gbrpf32le',
    'zscale=p=bt709',
    `tonemap=tonemap=hable:desat=0:peak=${peak}`,
    'zscale=t=bt709:m=bt709:r=tv',
    'format=yuv420p',
  ];
}

/** The output's VUI: BT.709 primaries, transfer and matrix, limited range. */
export const SDR_BT709_TAGS = ['-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-color_range', 'tv'];

/** Hardware decode keeps frames on the device, where zscale cannot reach them: HDR sources decode in software. */
export function withoutHardwareDecode(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-hwaccel' || args[i] === '-hwaccel_device' || args[i] === '-hwaccel_output_format') i++;
    else out.push(args[i]!);
  }
  return out;
}
