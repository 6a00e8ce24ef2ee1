import { NotFoundError } from '../errors.js';
import type { AudioRendition, Plan, VideoRendition } from './plan.js';

/** A rendition of a plan, video or audio, as a request names it. */
export type Rendition = { kind: 'video'; rendition: VideoRendition } | { kind: 'audio'; rendition: AudioRendition };

export function findRendition(plan: Plan, kind: 'video' | 'audio', id: string): Rendition {
  if (kind === 'video') {
    const rendition = plan.renditions.find((r) => r.id === id);
    if (rendition) return { kind, rendition };
  } else {
    const rendition = plan.audio.find((r) => r.id === id);
    if (rendition) return { kind, rendition };
  }
  throw new NotFoundError(`no ${kind} rendition "${id}" for this content`);
}

export function segmentCountOf(plan: Plan, found: Rendition): number {
  return found.kind === 'video' ? plan.videoSegments.length : found.rendition.segments.length;
}

/** What a rendition's init declares besides its sample description: the presentation's length and the bitrates. */
export function initFields(plan: Plan, found: Rendition) {
  const durationTicks = Math.round(plan.durationSeconds * plan.timescale);
  if (found.kind === 'video') {
    return { durationTicks, maxBitrate: found.rendition.peakBandwidth, avgBitrate: found.rendition.averageBandwidth };
  }
  const bitrate = found.rendition.bitrateKbps * 1000;
  return { durationTicks, maxBitrate: bitrate, avgBitrate: bitrate };
}
