/**
 * HEVC Main 10, Main tier level selection (ITU-T H.265 Tables A.8 and A.9),
 * passed to x265 so the CODECS string a manifest declares before any encode is
 * the one the init segment's hvcC carries.
 */
interface HevcLevel {
  /** general_level_idc: 30 × the level number. */
  idc: number;
  maxLumaPs: number;
  maxLumaSr: number;
  /** Main tier, kb/s (CpbBrVclFactor 1000 for Main 10). */
  maxBrKbps: number;
}

const LEVELS: HevcLevel[] = [
  { idc: 30, maxLumaPs: 36_864, maxLumaSr: 552_960, maxBrKbps: 128 },
  { idc: 60, maxLumaPs: 122_880, maxLumaSr: 3_686_400, maxBrKbps: 1_500 },
  { idc: 63, maxLumaPs: 245_760, maxLumaSr: 7_372_800, maxBrKbps: 3_000 },
  { idc: 90, maxLumaPs: 552_960, maxLumaSr: 16_588_800, maxBrKbps: 6_000 },
  { idc: 93, maxLumaPs: 983_040, maxLumaSr: 33_177_600, maxBrKbps: 10_000 },
  { idc: 120, maxLumaPs: 2_228_224, maxLumaSr: 66_846_720, maxBrKbps: 12_000 },
  { idc: 123, maxLumaPs: 2_228_224, maxLumaSr: 133_693_440, maxBrKbps: 20_000 },
  { idc: 150, maxLumaPs: 8_912_896, maxLumaSr: 267_386_880, maxBrKbps: 25_000 },
  { idc: 153, maxLumaPs: 8_912_896, maxLumaSr: 534_773_760, maxBrKbps: 40_000 },
  { idc: 156, maxLumaPs: 8_912_896, maxLumaSr: 1_069_547_520, maxBrKbps: 60_000 },
  { idc: 180, maxLumaPs: 35_651_584, maxLumaSr: 1_069_547_520, maxBrKbps: 60_000 },
  { idc: 183, maxLumaPs: 35_651_584, maxLumaSr: 2_139_095_040, maxBrKbps: 120_000 },
  { idc: 186, maxLumaPs: 35_651_584, maxLumaSr: 4_278_190_080, maxBrKbps: 240_000 },
];

export function hevcLevelIdc(width: number, height: number, fps: number, maxrateKbps: number): number {
  const pixels = width * height;
  for (const level of LEVELS) {
    const side = Math.sqrt(level.maxLumaPs * 8);
    if (pixels <= level.maxLumaPs && width <= side && height <= side && pixels * fps <= level.maxLumaSr && maxrateKbps <= level.maxBrKbps) return level.idc;
  }
  return 186;
}

/**
 * RFC 6381 / ISO/IEC 14496-15 codec string of what x265 writes for Main 10:
 * profile 2, compatibility flag 2 only (bit-reversed: 4), Main tier, the
 * level, and the constraint byte 0x90 (progressive source, frame only).
 */
export function hevcMain10CodecString(levelIdc: number): string {
  return `hvc1.2.4.L${levelIdc}.90`;
}

/** x265's level-idc argument (93 → "3.1"). */
export function hevcLevelArgument(levelIdc: number): string {
  const tenths = Math.round(levelIdc / 3);
  return `${Math.floor(tenths / 10)}.${tenths % 10}`;
}
