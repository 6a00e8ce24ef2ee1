/**
 * libx264 at two speeds that share one init segment. A rendition's init
 * carries the SPS/PPS (avcC); a segment encoded with other SPS/PPS cannot be
 * decoded with it. So the settings x264 writes there are fixed explicitly,
 * and the same, for the configured preset (normal) and for the degraded speed
 * (fast: preset ultrafast, no lookahead, no adaptive B-frame decision, which
 * change nothing in the SPS/PPS). What reaches the SPS/PPS from the settings:
 * profile and level (given on the command line for both), refs
 * (num_ref_frames, num_ref_idx_default), B-frames and their pyramid
 * (num_reorder_frames, POC type: `-bf 3` for both), CABAC, weighted
 * prediction (P: on or off; B: on or off), the 8x8 transform, and the chroma
 * QP offset, which x264 lowers itself when psy-RD runs (subme ≥ 6) and when
 * psy-trellis runs (trellis on). The preset's own values are x264's
 * (common/base.c, preset and tune tables); test/degrade-args.test.ts checks
 * avcC equality with real encodes for every preset and tune.
 */

export type X264Preset = 'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast' | 'medium' | 'slow' | 'slower' | 'veryslow';
export type X264Tune = 'film' | 'animation' | 'grain' | 'stillimage' | 'fastdecode' | 'zerolatency';
export type SpeedTier = 'normal' | 'fast';

/** The preset that a degraded segment is encoded with. */
export const FAST_PRESET: X264Preset = 'ultrafast';

interface PresetValues {
  ref: number;
  subme: number;
  trellis: number;
  /** 0 off, 1 simple, 2 smart: the PPS says only on or off. */
  weightp: number;
}

/** x264's presets (x264_param_apply_preset): what of each reaches the SPS/PPS, directly or through the chroma offset. */
const PRESETS: Record<X264Preset, PresetValues> = {
  ultrafast: { ref: 1, subme: 0, trellis: 0, weightp: 0 },
  superfast: { ref: 1, subme: 1, trellis: 0, weightp: 1 },
  veryfast: { ref: 1, subme: 2, trellis: 0, weightp: 1 },
  faster: { ref: 2, subme: 4, trellis: 1, weightp: 1 },
  fast: { ref: 2, subme: 6, trellis: 1, weightp: 2 },
  medium: { ref: 3, subme: 7, trellis: 1, weightp: 2 },
  slow: { ref: 5, subme: 8, trellis: 2, weightp: 2 },
  slower: { ref: 8, subme: 9, trellis: 2, weightp: 2 },
  veryslow: { ref: 16, subme: 10, trellis: 2, weightp: 2 },
};

/** psy-rd strength and psy-trellis per tune (x264_param_apply_tune); x264's default is 1.0 and 0. */
const PSY: Record<X264Tune | 'none', { rd: number; trellis: number }> = {
  none: { rd: 1, trellis: 0 },
  film: { rd: 1, trellis: 0.15 },
  animation: { rd: 0.4, trellis: 0 },
  grain: { rd: 1, trellis: 0.25 },
  stillimage: { rd: 2, trellis: 0.7 },
  fastdecode: { rd: 1, trellis: 0 },
  zerolatency: { rd: 1, trellis: 0 },
};

/** The values x264 writes into the SPS/PPS for a preset and tune. */
export interface ParameterSetValues {
  ref: number;
  cabac: boolean;
  weightb: boolean;
  weightp: boolean;
  chromaQpOffset: number;
}

export function parameterSetValues(preset: X264Preset, tune?: X264Tune): ParameterSetValues {
  const values = PRESETS[preset];
  const plain = preset !== 'ultrafast' && tune !== 'fastdecode';
  // tune animation doubles refs above one.
  const ref = tune === 'animation' && values.ref > 1 ? values.ref * 2 : values.ref;
  const psy = PSY[tune ?? 'none'];
  // x264_validate_parameters: psy-RD runs from subme 6, psy-trellis with trellis; each lowers the chroma offset.
  const psyRd = values.subme >= 6 && psy.rd > 0 ? (psy.rd < 0.25 ? 1 : 2) : 0;
  const psyTrellis = values.trellis > 0 && psy.trellis > 0 ? (psy.trellis < 0.25 ? 1 : 2) : 0;
  return { ref, cabac: plain, weightb: plain, weightp: plain && values.weightp > 0, chromaQpOffset: -(psyRd + psyTrellis) };
}

/**
 * The libx264 options of one speed: `-preset`, `-tune` and `-x264-params`.
 * Both speeds state every SPS/PPS value; the normal one states what its
 * preset already does (its encode is unchanged), and leaves the chroma offset
 * to x264's own adjustment, which the fast one states as a result.
 */
export function x264SpeedArgs(preset: X264Preset, tune: X264Tune | undefined, tier: SpeedTier): string[] {
  const v = parameterSetValues(preset, tune);
  const fixed = [
    'open-gop=0', '8x8dct=1', `ref=${v.ref}`, `cabac=${v.cabac ? 1 : 0}`, `weightb=${v.weightb ? 1 : 0}`, 'b-pyramid=normal',
  ];
  if (tier === 'normal') {
    // weightp as the preset has it (1 and 2 are the same in the PPS, not in the encode).
    const weightp = v.weightp ? PRESETS[preset].weightp : 0;
    return ['-preset', preset, ...(tune ? ['-tune', tune] : []), '-x264-params', [...fixed, `weightp=${weightp}`].join(':')];
  }
  const speed = ['rc-lookahead=0', 'mbtree=0', 'b-adapt=0', `weightp=${v.weightp ? 1 : 0}`, `chroma-qp-offset=${v.chromaQpOffset}`];
  return ['-preset', FAST_PRESET, ...(tune ? ['-tune', tune] : []), '-x264-params', [...fixed, ...speed].join(':')];
}
