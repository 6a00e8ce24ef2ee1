import { audioSegmentBitsBound, bitrateFigures, videoSegmentBitsBound, type BitrateFigures } from '../plan/bandwidth.js';
import type { Plan } from '../plan/plan.js';

/**
 * The bit rates a manifest prints, per rendition: from the plan's upper
 * bounds, with every segment already made counted at its measured size
 * instead (see plan/bandwidth.ts). A pure function of the plan and the sizes,
 * so the same made segments always give the same manifest; segment URLs and
 * rendition ids do not depend on it, only the manifest text does.
 */

/** Bytes of each made segment of a rendition, by 0-based segment index; undefined where not made (or not known here). */
export type SegmentSizes = ReadonlyArray<number | undefined>;

export interface MadeSegments {
  video: Readonly<Record<string, SegmentSizes>>;
  audio: Readonly<Record<string, SegmentSizes>>;
}

export interface ManifestFigures {
  video: ReadonlyMap<string, BitrateFigures>;
  audio: ReadonlyMap<string, BitrateFigures>;
}

const NOTHING_MADE: MadeSegments = { video: {}, audio: {} };

export function manifestFigures(plan: Plan, made: MadeSegments = NOTHING_MADE): ManifestFigures {
  const { timescale } = plan;
  const video = new Map<string, BitrateFigures>();
  for (const r of plan.renditions) {
    const sizes = made.video[r.id];
    const weights = plan.videoSegments.map((s) => {
      const bytes = sizes?.[s.index];
      return { bits: bytes !== undefined ? 8 * bytes : videoSegmentBitsBound(r.maxrateKbps, r.bufsizeKbps, s.duration, timescale, s.frameCount), ticks: s.duration };
    });
    video.set(r.id, bitrateFigures(weights, timescale));
  }
  const audio = new Map<string, BitrateFigures>();
  for (const a of plan.audio) {
    const sizes = made.audio[a.id];
    const weights = a.segments.map((s) => {
      const bytes = sizes?.[s.index];
      return { bits: bytes !== undefined ? 8 * bytes : audioSegmentBitsBound(a.bitrateKbps, s.duration, timescale, s.frameCount), ticks: s.duration };
    });
    audio.set(a.id, bitrateFigures(weights, timescale));
  }
  return { video, audio };
}

/** Changes exactly when a printed figure does: what a rendered manifest is kept under. */
export function figuresVersion(figures: ManifestFigures): string {
  const list = (map: ReadonlyMap<string, BitrateFigures>) => [...map.values()].map((f) => `${f.average}/${f.peak}`).join(',');
  return `${list(figures.video)};${list(figures.audio)}`;
}

/** HLS variants pair each video rendition with any audio rendition of the group: the widest one bounds them all. */
export function widestAudio(figures: ManifestFigures): BitrateFigures {
  let average = 0;
  let peak = 0;
  for (const f of figures.audio.values()) {
    average = Math.max(average, f.average);
    peak = Math.max(peak, f.peak);
  }
  return { average, peak };
}

export function figuresFor(map: ReadonlyMap<string, BitrateFigures>, id: string): BitrateFigures {
  const found = map.get(id);
  if (!found) throw new Error(`no bit rate figures for rendition ${id}`);
  return found;
}
