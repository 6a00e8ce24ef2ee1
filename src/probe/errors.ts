/**
 * Why a source cannot be used as a video source.
 *
 * - `not-media`: the file is not a media file any demuxer understands
 *   (text, random bytes, truncated/corrupt container, text-art "video").
 * - `no-video`: it is media, but has no video stream with frames (audio-only, …).
 * - `unreadable`: the file itself cannot be read (missing, permission, a directory, …).
 * - `impossible`: it is media, but what it describes cannot be streamed: zero
 *   duration, geometry or durations outside the limits (limits.ts), sample
 *   tables claiming more entries than their bytes hold, an edit list that
 *   presents nothing, a first frame that does not decode (decode-check.ts,
 *   run beside the first encode), or a probe that
 *   exceeded its time or memory budget.
 */
export type ProbeErrorKind = 'not-media' | 'no-video' | 'unreadable' | 'impossible';

export class ProbeError extends Error {
  override readonly name = 'ProbeError';

  constructor(
    readonly kind: ProbeErrorKind,
    /** Human-readable explanation, safe to show to an operator. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind}: ${reason}`, options);
  }
}

export function isProbeError(err: unknown): err is ProbeError {
  return err instanceof ProbeError;
}
