/**
 * H.264 level selection (ITU-T H.264 Table A-1). We pass the level to x264
 * explicitly so the CODECS string in a manifest, written before anything is
 * encoded, is exactly what the init segment's avcC will say.
 */
interface LevelLimits {
  idc: number;
  maxMbps: number;
  maxFs: number;
  maxBrKbps: number;
  maxDpbMbs: number;
}

const LEVELS: LevelLimits[] = [
  { idc: 10, maxMbps: 1485, maxFs: 99, maxBrKbps: 64, maxDpbMbs: 396 },
  { idc: 11, maxMbps: 3000, maxFs: 396, maxBrKbps: 192, maxDpbMbs: 900 },
  { idc: 12, maxMbps: 6000, maxFs: 396, maxBrKbps: 384, maxDpbMbs: 2376 },
  { idc: 13, maxMbps: 11880, maxFs: 396, maxBrKbps: 768, maxDpbMbs: 2376 },
  { idc: 20, maxMbps: 11880, maxFs: 396, maxBrKbps: 2000, maxDpbMbs: 2376 },
  { idc: 21, maxMbps: 19800, maxFs: 792, maxBrKbps: 4000, maxDpbMbs: 4752 },
  { idc: 22, maxMbps: 20250, maxFs: 1620, maxBrKbps: 4000, maxDpbMbs: 8100 },
  { idc: 30, maxMbps: 40500, maxFs: 1620, maxBrKbps: 10000, maxDpbMbs: 8100 },
  { idc: 31, maxMbps: 108000, maxFs: 3600, maxBrKbps: 14000, maxDpbMbs: 18000 },
  { idc: 32, maxMbps: 216000, maxFs: 5120, maxBrKbps: 20000, maxDpbMbs: 20480 },
  { idc: 40, maxMbps: 245760, maxFs: 8192, maxBrKbps: 20000, maxDpbMbs: 32768 },
  { idc: 41, maxMbps: 245760, maxFs: 8192, maxBrKbps: 50000, maxDpbMbs: 32768 },
  { idc: 42, maxMbps: 522240, maxFs: 8704, maxBrKbps: 50000, maxDpbMbs: 34816 },
  { idc: 50, maxMbps: 589824, maxFs: 22080, maxBrKbps: 135000, maxDpbMbs: 110400 },
  { idc: 51, maxMbps: 983040, maxFs: 36864, maxBrKbps: 240000, maxDpbMbs: 184320 },
  { idc: 52, maxMbps: 2073600, maxFs: 36864, maxBrKbps: 240000, maxDpbMbs: 184320 },
  { idc: 60, maxMbps: 4177920, maxFs: 139264, maxBrKbps: 240000, maxDpbMbs: 696320 },
];

/** High profile allows 1.25x the Baseline/Main bitrate (Table A-2, cpbBrVclFactor). */
const HIGH_PROFILE_BR_FACTOR = 1.25;
/** Reference frames x264 may hold with our presets (refs + B-pyramid), with headroom. */
const DPB_FRAMES = 4;

export function h264LevelIdc(width: number, height: number, fps: number, maxrateKbps: number): number {
  const mbWidth = Math.ceil(width / 16);
  const mbHeight = Math.ceil(height / 16);
  const frameMbs = mbWidth * mbHeight;
  for (const level of LEVELS) {
    const sideLimit = Math.sqrt(level.maxFs * 8);
    if (
      frameMbs <= level.maxFs &&
      mbWidth <= sideLimit &&
      mbHeight <= sideLimit &&
      frameMbs * fps <= level.maxMbps &&
      maxrateKbps <= level.maxBrKbps * HIGH_PROFILE_BR_FACTOR &&
      frameMbs * DPB_FRAMES <= level.maxDpbMbs
    ) {
      return level.idc;
    }
  }
  return 62;
}

/** RFC 6381 codec string for H.264 High profile (profile_idc 100, no constraint flags) at a level. */
export function avcHighCodecString(levelIdc: number): string {
  return `avc1.6400${levelIdc.toString(16).padStart(2, '0')}`;
}

/** x264's `-level` argument for a level_idc (e.g. 31 → "3.1"). */
export function levelArgument(levelIdc: number): string {
  return `${Math.floor(levelIdc / 10)}.${levelIdc % 10}`;
}
