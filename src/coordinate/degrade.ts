import type { TaskReason } from './encode-queue.js';
import type { SpeedTier } from '../transcode/x264-tiers.js';

/**
 * Whether a segment is made at the configured preset or degraded to the fast
 * one (same SPS/PPS, so it joins the rendition's init: transcode/x264-tiers.ts).
 * A pure function of the state when the encode starts in its worker: the
 * players' encodes waiting behind it, and the measured speed of this
 * rendition's recent normal encodes. Nothing here reads a clock.
 */

export interface DegradePolicy {
  /** Off: every segment at the configured preset. */
  enabled: boolean;
  /** Players' encodes (starts and requests) waiting for a worker at which a player's encode is degraded. */
  queueLength: number;
  /**
   * × real time a rendition's normal encodes must reach for a player at 1×:
   * below it (counting the players' encodes queued ahead) a player's encode
   * is degraded. A segment's deadline is its duration / minSpeed.
   */
  minSpeed: number;
}

/** The policy from `streaming.encoder.degrade`. */
export function degradePolicy(config: { enabled: boolean; queue_length: number; min_speed: number }): DegradePolicy {
  return { enabled: config.enabled, queueLength: config.queue_length, minSpeed: config.min_speed };
}

export interface DegradeState {
  /** Why the encode runs: nobody waits for a prefetch (nor for a re-make), so it is never degraded. */
  reason: TaskReason;
  kind: 'video' | 'audio';
  /** Only libx264 has the two speeds. */
  encoder: string;
  /** Players' encodes waiting for a worker now. */
  waitingPlayers: number;
  /** Workers for players' encodes. */
  workers: number;
  /** Measured × real time of this rendition's recent normal encodes on this instance; undefined before the first. */
  normalSpeed: number | undefined;
  /** The segment's media duration (seconds). */
  segmentSeconds: number;
}

export type DegradeDecision = { tier: 'normal' } | { tier: Extract<SpeedTier, 'fast'>; why: 'queue' | 'speed' };

export function decideSpeed(policy: DegradePolicy, state: DegradeState): DegradeDecision {
  if (!policy.enabled || state.reason === 'prefetch' || state.kind !== 'video' || state.encoder !== 'libx264') return { tier: 'normal' };
  if (state.waitingPlayers >= policy.queueLength) return { tier: 'fast', why: 'queue' };
  if (state.normalSpeed === undefined || state.normalSpeed <= 0) return { tier: 'normal' };
  // The players' work there is now (this encode and those waiting), at the measured speed over the workers: when it
  // takes longer than a segment plays, players at 1× fall behind, so this one is made fast.
  const rounds = 1 + state.waitingPlayers / Math.max(1, state.workers);
  const normalSeconds = (rounds * state.segmentSeconds) / state.normalSpeed;
  const deadlineSeconds = state.segmentSeconds / policy.minSpeed;
  return normalSeconds > deadlineSeconds ? { tier: 'fast', why: 'speed' } : { tier: 'normal' };
}
