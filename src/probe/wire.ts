/**
 * What crosses between a probe worker and the main thread: the result with
 * its frame lists as runs (serialize.ts; a few numbers for constant-rate
 * video, so the main thread decodes instead of deserialising 170,000 numbers),
 * or the error as data (a class does not survive postMessage).
 */
import { ProbeError, type ProbeErrorKind } from './errors.js';
import { decodeRuns, encodeRuns } from './serialize.js';
import type { ProbeResult } from './types.js';
import type { FirstFrameCheck } from './decode-check.js';

export interface ProbeRequest {
  id: number;
  path: string;
  deadline: number;
  /** Tests only (pool.ts probeTestHooks): wait while hold[0] is 1. */
  hold?: Int32Array;
}

export type WireProbe = Omit<ProbeResult, 'video'> & { video: Omit<ProbeResult['video'], 'framePts' | 'keyframePts'> & { frameRuns: number[]; keyframeRuns: number[] } };

export type ProbeReply =
  | { id: number; ok: true; probe: WireProbe; firstFrame: FirstFrameCheck }
  | { id: number; ok: false; probeError: { kind: ProbeErrorKind; reason: string } }
  | { id: number; ok: false; error: string };

export function toWire(probe: ProbeResult): WireProbe {
  const { framePts, keyframePts, ...video } = probe.video;
  return { ...probe, video: { ...video, frameRuns: encodeRuns(framePts), keyframeRuns: encodeRuns(keyframePts) } };
}

export function fromWire(wire: WireProbe): ProbeResult {
  const { frameRuns, keyframeRuns, ...video } = wire.video;
  const framePts = decodeRuns(frameRuns);
  const keyframePts = decodeRuns(keyframeRuns);
  if (!framePts || !keyframePts) throw new Error('a probe worker sent malformed frame runs');
  return { ...wire, video: { ...video, framePts, keyframePts } };
}

export function errorReply(id: number, err: unknown): ProbeReply {
  if (err instanceof ProbeError) return { id, ok: false, probeError: { kind: err.kind, reason: err.reason } };
  return { id, ok: false, error: err instanceof Error ? err.message : String(err) };
}
