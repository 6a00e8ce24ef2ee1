/** Display geometry from the container: sample aspect ratio and rotation. */

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export function reduceRatio(num: number, den: number): string {
  const g = gcd(num, den) || 1;
  return `${num / g}:${den / g}`;
}

/**
 * Clockwise rotation in degrees (0/90/180/270) that must be applied to the
 * decoded picture for display. This is the angle ffmpeg's autorotate applies
 * (90 -> transpose=clock) and the *negation* of ffprobe's display-matrix
 * `rotation` value (ffprobe reports the matrix's counter-clockwise angle, e.g.
 * -90 for a portrait phone clip that must be turned 90° clockwise).
 * tkhd matrix layout: [a b u; c d v; x y w], a/b/c/d in 16.16 fixed point.
 */
export function clockwiseRotation(tkhd: ArrayLike<number> | undefined, mvhd: ArrayLike<number> | undefined): number {
  if (!tkhd || tkhd.length < 5) return 0;
  let a = tkhd[0]! / 65536;
  let b = tkhd[1]! / 65536;
  if (mvhd && mvhd.length >= 5) {
    // ffmpeg multiplies the track matrix by the movie matrix; only the first
    // row of the 2x2 rotation/scale part matters for the angle.
    const ma = mvhd[0]! / 65536, mb = mvhd[1]! / 65536, mc = mvhd[3]! / 65536, md = mvhd[4]! / 65536;
    [a, b] = [a * ma + b * mc, a * mb + b * md];
  }
  if (a === 0 && b === 0) return 0;
  return normalizeRotation((Math.atan2(b, a) * 180) / Math.PI);
}

/** Round to the nearest quarter turn and map into 0..359. */
export function normalizeRotation(degrees: number): number {
  if (!Number.isFinite(degrees)) return 0;
  const quarter = Math.round(degrees / 90) * 90;
  return ((quarter % 360) + 360) % 360;
}

