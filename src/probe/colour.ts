/**
 * A video track's colour: what its container or bitstream says about
 * primaries, transfer, matrix and range, and the HDR metadata that comes with
 * PQ and HLG sources (mastering display, content light level, Dolby Vision
 * configuration, HDR10+ dynamic metadata). Names are FFmpeg's (`bt2020`,
 * `smpte2084`, `arib-std-b67`, `bt2020nc`), whichever probe read them.
 */

/** SMPTE ST 2086 mastering display, in the units of the HEVC SEI and the mdcv box (x265's master-display). */
export interface MasteringDisplay {
  /** Chromaticities in 0.00002 units, [x, y]. */
  red: [number, number];
  green: [number, number];
  blue: [number, number];
  whitePoint: [number, number];
  /** Luminance in 0.0001 cd/m². */
  maxLuminance: number;
  minLuminance: number;
}

export interface ContentLightLevel {
  /** cd/m². */
  maxCll: number;
  maxFall: number;
}

export interface DolbyVisionConfig {
  profile: number;
  level: number;
  /** 1: HDR10 base layer, 2: SDR, 4: HLG, 0: none (profile 5: IPTPQc2, not displayable without the RPU). */
  blCompatibilityId: number;
  rpu: boolean;
  el: boolean;
}

export interface VideoColour {
  primaries?: string;
  transfer?: string;
  matrix?: string;
  range?: 'tv' | 'pc';
  mastering?: MasteringDisplay;
  contentLight?: ContentLightLevel;
  dolbyVision?: DolbyVisionConfig;
  /** SMPTE ST 2094-40 dynamic metadata seen on the first frame. */
  hdr10Plus?: true;
}

/** What a picture's values mean to a display: the HLS VIDEO-RANGE vocabulary. */
export type DynamicRange = 'SDR' | 'PQ' | 'HLG';

/**
 * PQ or HLG by the transfer function; a Dolby Vision stream with an HDR10 or
 * HLG base layer whose VUI leaves the transfer out is taken by its
 * compatibility id.
 */
export function dynamicRangeOf(colour: VideoColour | undefined): DynamicRange {
  if (colour?.transfer === 'smpte2084') return 'PQ';
  if (colour?.transfer === 'arib-std-b67') return 'HLG';
  const dv = colour?.dolbyVision;
  if (dv?.blCompatibilityId === 1 || dv?.blCompatibilityId === 6) return 'PQ';
  if (dv?.blCompatibilityId === 4) return 'HLG';
  return 'SDR';
}

/** A name for people (/info): "HDR10", "HDR10+", "HLG", "Dolby Vision 8.1 (HDR10 base)", "SDR". */
export function hdrFormatOf(colour: VideoColour | undefined): string {
  const range = dynamicRangeOf(colour);
  const dv = colour?.dolbyVision;
  if (dv) {
    const base = range === 'PQ' ? 'HDR10 base' : range === 'HLG' ? 'HLG base' : dv.blCompatibilityId === 2 ? 'SDR base' : 'no compatible base';
    return `Dolby Vision ${dv.profile}.${dv.blCompatibilityId} (${base})`;
  }
  if (range === 'PQ') return colour?.hdr10Plus ? 'HDR10+' : colour?.mastering || colour?.contentLight ? 'HDR10' : 'PQ';
  return range;
}

/** ISO/IEC 23091-2 (CICP) code points, as the colr box and the VUI carry them, to FFmpeg's names. */
const PRIMARIES: Record<number, string> = { 1: 'bt709', 4: 'bt470m', 5: 'bt470bg', 6: 'smpte170m', 7: 'smpte240m', 8: 'film', 9: 'bt2020', 10: 'smpte428', 11: 'smpte431', 12: 'smpte432', 22: 'jedec-p22' };
const TRANSFERS: Record<number, string> = {
  1: 'bt709', 4: 'gamma22', 5: 'gamma28', 6: 'smpte170m', 7: 'smpte240m', 8: 'linear', 9: 'log100', 10: 'log316', 11: 'iec61966-2-4',
  12: 'bt1361e', 13: 'iec61966-2-1', 14: 'bt2020-10', 15: 'bt2020-12', 16: 'smpte2084', 17: 'smpte428', 18: 'arib-std-b67',
};
const MATRICES: Record<number, string> = { 0: 'gbr', 1: 'bt709', 4: 'fcc', 5: 'bt470bg', 6: 'smpte170m', 7: 'smpte240m', 8: 'ycgco', 9: 'bt2020nc', 10: 'bt2020c', 11: 'smpte2085', 12: 'chroma-derived-nc', 13: 'chroma-derived-c', 14: 'ictcp' };

/** Colour from CICP code points; 2 ("unspecified") and unknown codes are left out. */
export function colourFromCicp(primaries: number, transfer: number, matrix: number, fullRange: boolean | undefined): VideoColour {
  const colour: VideoColour = {};
  if (PRIMARIES[primaries]) colour.primaries = PRIMARIES[primaries];
  if (TRANSFERS[transfer]) colour.transfer = TRANSFERS[transfer];
  if (MATRICES[matrix]) colour.matrix = MATRICES[matrix];
  if (fullRange !== undefined) colour.range = fullRange ? 'pc' : 'tv';
  return colour;
}

/** "34000/50000" (ffprobe's side data) in units of 1/`unit`. */
function rationalIn(value: unknown, unit: number): number | undefined {
  if (typeof value === 'number') return Math.round(value * unit);
  const m = /^(-?\d+)\/(\d+)$/.exec(String(value ?? ''));
  if (!m || Number(m[2]) === 0) return undefined;
  return Math.round((Number(m[1]) * unit) / Number(m[2]));
}

function integer(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isInteger(n) ? n : undefined;
}

/**
 * HDR metadata from ffprobe side data (stream `side_data_list` or a frame's):
 * "Mastering display metadata", "Content light level metadata", "DOVI
 * configuration record", and HDR10+ ("HDR Dynamic Metadata SMPTE2094-40").
 */
export function colourFromSideData(list: ReadonlyArray<Record<string, unknown>> | undefined): VideoColour {
  const colour: VideoColour = {};
  for (const sd of list ?? []) {
    const type = String(sd['side_data_type'] ?? '');
    if (type === 'Mastering display metadata') {
      const xy = (name: string): [number, number] | undefined => {
        const x = rationalIn(sd[`${name}_x`], 50_000);
        const y = rationalIn(sd[`${name}_y`], 50_000);
        return x !== undefined && y !== undefined ? [x, y] : undefined;
      };
      const [red, green, blue, whitePoint] = [xy('red'), xy('green'), xy('blue'), xy('white_point')];
      const maxLuminance = rationalIn(sd['max_luminance'], 10_000);
      const minLuminance = rationalIn(sd['min_luminance'], 10_000);
      if (red && green && blue && whitePoint && maxLuminance !== undefined && minLuminance !== undefined) {
        colour.mastering = { red, green, blue, whitePoint, maxLuminance, minLuminance };
      }
    } else if (type === 'Content light level metadata') {
      const maxCll = integer(sd['max_content']);
      const maxFall = integer(sd['max_average']);
      if (maxCll !== undefined && maxFall !== undefined) colour.contentLight = { maxCll, maxFall };
    } else if (type === 'DOVI configuration record') {
      const profile = integer(sd['dv_profile']);
      if (profile !== undefined) {
        colour.dolbyVision = {
          profile,
          level: integer(sd['dv_level']) ?? 0,
          blCompatibilityId: integer(sd['dv_bl_signal_compatibility_id']) ?? 0,
          rpu: integer(sd['rpu_present_flag']) === 1,
          el: integer(sd['el_present_flag']) === 1,
        };
      }
    } else if (type.includes('SMPTE2094-40')) {
      colour.hdr10Plus = true;
    }
  }
  return colour;
}

/** The colour fields ffprobe prints for a stream (`-show_streams`) or a frame (`-show_frames`). */
export interface FfprobeColourFields {
  color_primaries?: string;
  color_transfer?: string;
  color_space?: string;
  color_range?: string;
  side_data_list?: ReadonlyArray<Record<string, unknown>>;
}

/** A stream's or a frame's colour as ffprobe reports it ("unknown", "unspecified", "reserved" left out), with its side data. */
export function colourFromFfprobe(fields: FfprobeColourFields): VideoColour | undefined {
  const known = (v: string | undefined) => (v && v !== 'unknown' && v !== 'unspecified' && v !== 'reserved' ? v : undefined);
  const colour: VideoColour = {};
  const [primaries, transfer, matrix] = [known(fields.color_primaries), known(fields.color_transfer), known(fields.color_space)];
  if (primaries) colour.primaries = primaries;
  if (transfer) colour.transfer = transfer;
  if (matrix) colour.matrix = matrix;
  if (fields.color_range === 'tv' || fields.color_range === 'pc') colour.range = fields.color_range;
  return mergeColour(colour, colourFromSideData(fields.side_data_list));
}

/** `base` completed by what `more` knows and `base` does not (the container first, the bitstream after). */
export function mergeColour(base: VideoColour | undefined, more: VideoColour | undefined): VideoColour | undefined {
  if (!base) return more && Object.keys(more).length > 0 ? more : undefined;
  const merged: VideoColour = { ...(more ?? {}), ...base };
  return Object.keys(merged).length > 0 ? merged : undefined;
}
