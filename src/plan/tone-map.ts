/**
 * How an HDR source becomes the SDR BT.709 H.264 ladder: from which transfer,
 * primaries and matrix, and with which peak. A pure function of the probe, so
 * every segment of a rendition is tone-mapped with the same constants (a
 * per-frame peak from side data would depend on which frame a segment's
 * decode starts at).
 */
import { dynamicRangeOf, type DynamicRange, type VideoColour } from '../probe/colour.js';

export interface ToneMap {
  from: Exclude<DynamicRange, 'SDR'>;
  /** The source's colour, FFmpeg names (zscale's tin/pin/min/rin). */
  transfer: string;
  primaries: string;
  matrix: string;
  range: 'tv' | 'pc';
  /** The brightest light the curve keeps, cd/m². */
  peakNits: number;
}

/** HLG's nominal display peak (BT.2100); also a PQ source's when it carries no light levels. */
export const DEFAULT_PEAK_NITS = 1000;

/**
 * PQ: the content's brightest pixel (MaxCLL) when known, else the mastering
 * display's peak, else 1,000 cd/m², kept within [100, 10,000]. HLG is
 * display-relative: its nominal 1,000 cd/m².
 */
export function toneMapOf(colour: VideoColour | undefined): ToneMap | undefined {
  const from = dynamicRangeOf(colour);
  if (from === 'SDR') return undefined;
  const transfer = from === 'PQ' ? 'smpte2084' : 'arib-std-b67';
  let peakNits = DEFAULT_PEAK_NITS;
  if (from === 'PQ') {
    const cll = colour?.contentLight?.maxCll ?? 0;
    const mastering = (colour?.mastering?.maxLuminance ?? 0) / 10_000;
    peakNits = Math.min(10_000, Math.max(100, cll > 0 ? cll : mastering > 0 ? mastering : DEFAULT_PEAK_NITS));
  }
  return {
    from,
    transfer,
    // A Dolby Vision base layer or a stream that names only its transfer: BT.2020 is what PQ and HLG come with.
    primaries: colour?.primaries ?? 'bt2020',
    matrix: colour?.matrix ?? 'bt2020nc',
    range: colour?.range ?? 'tv',
    peakNits: Math.round(peakNits),
  };
}
