import { createHash } from 'node:crypto';
import type { ThumbnailConfig } from '../config/config.js';
import type { VideoTrackProbe } from '../probe/types.js';
import { displaySize, type Plan } from './plan.js';

/**
 * Which picture stands for which stretch of the presentation: a pure function
 * of the probe's keyframes, the plan and the thumbnail config, so the WebVTT
 * index, the DASH image AdaptationSet, the HLS image playlist and the sheets
 * made later all agree, before any image is made.
 *
 * Thumbnail i stands for [i·T, (i+1)·T) of the presentation (T =
 * interval_seconds, the last one cut at the end): even spacing is what the
 * DASH-IF thumbnail_tile scheme can say (a sheet's duration shared equally by
 * its tiles). It shows the source's IDR keyframe nearest the middle of that
 * stretch, so making it costs one keyframe decode and no other frame; with
 * keyframes at most T apart that picture lies inside its own stretch.
 * Thumbnails fill sheets of columns × rows tiles, left to right, top to bottom.
 */

/** Bump when the images' bytes change for the same plan (it is part of every thumbnail track id). */
export const THUMBNAIL_VERSION = 1;

export interface Thumbnail {
  index: number;
  /** Presentation time (seconds from the first picture) it stands for: [start, end). */
  startSeconds: number;
  endSeconds: number;
  /** Source presentation time (source ticks) of the keyframe it shows. */
  pts: number;
}

export interface ThumbnailPlan {
  /** Names the track's files: changes whenever their bytes would. */
  id: string;
  intervalSeconds: number;
  /** One tile's size in pixels. */
  width: number;
  height: number;
  columns: number;
  rows: number;
  /** The presentation's video length, seconds. */
  durationSeconds: number;
  thumbnails: Thumbnail[];
  /** Number of sheets (1-based in URLs: tile_1.jpg …). */
  sheets: number;
  /** Only IDR keyframes are shown (false only for a source without any: its first picture then stands for all). */
  keyframesOnly: boolean;
  poster: { id: string; pts: number; width: number; height: number };
}

/** Where in the video the poster's picture is taken: a tenth in, past most opening black. */
const POSTER_AT = 0.1;

const even = (value: number) => Math.max(2, 2 * Math.round(value / 2));

function shortHash(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 10);
}

/** The value of `sorted` nearest `target` (the lower one on a tie); `sorted` is not empty. */
function nearest(sorted: readonly number[], target: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < target) lo = mid + 1;
    else hi = mid;
  }
  const above = sorted[lo];
  const below = sorted[lo - 1];
  if (below === undefined) return above!;
  if (above === undefined) return below;
  return above - target < target - below ? above : below;
}

/** Presentation seconds, in the units the manifests print (milliseconds), so every text says the same times. */
const ms = (seconds: number) => Math.round(seconds * 1000) / 1000;

export function thumbnailPlan(video: VideoTrackProbe, plan: Plan, config: ThumbnailConfig): ThumbnailPlan {
  const first = plan.videoSegments[0]!;
  const last = plan.videoSegments[plan.videoSegments.length - 1]!;
  const durationSeconds = (last.start + last.duration - first.start) / plan.timescale;
  const firstPts = first.startPts;
  const ts = video.timescale;
  const keyframesOnly = video.keyframePts.length > 0;
  const candidates = keyframesOnly ? video.keyframePts : [firstPts];
  const T = config.interval_seconds;
  const count = Math.max(1, Math.ceil(durationSeconds / T - 1e-9));
  const thumbnails: Thumbnail[] = [];
  for (let index = 0; index < count; index++) {
    const startSeconds = ms(index * T);
    const endSeconds = ms(Math.min((index + 1) * T, durationSeconds));
    const middle = (index + 0.5) * T;
    thumbnails.push({ index, startSeconds, endSeconds, pts: nearest(candidates, firstPts + middle * ts) });
  }
  const shape = displaySize(video);
  const width = even(config.width);
  const height = even((config.width * shape.height) / shape.width);
  const posterWidth = even(Math.min(config.poster_width, shape.width));
  const posterHeight = even((posterWidth * shape.height) / shape.width);
  const posterPts = nearest(candidates, firstPts + POSTER_AT * durationSeconds * ts);
  const settings = { v: THUMBNAIL_VERSION, width, height, columns: config.columns, rows: config.rows, T, pts: shortHash(thumbnails.map((t) => t.pts)) };
  return {
    id: `thumbs-${width}x${height}-${shortHash(settings)}`,
    intervalSeconds: T,
    width,
    height,
    columns: config.columns,
    rows: config.rows,
    durationSeconds,
    thumbnails,
    sheets: Math.ceil(count / (config.columns * config.rows)),
    keyframesOnly,
    poster: { id: `poster-${posterWidth}x${posterHeight}-${shortHash({ v: THUMBNAIL_VERSION, posterPts, posterWidth, posterHeight })}`, pts: posterPts, width: posterWidth, height: posterHeight },
  };
}

/** The thumbnails on sheet `number` (1-based), in tile order. */
export function sheetThumbnails(thumbs: ThumbnailPlan, number: number): Thumbnail[] {
  const perSheet = thumbs.columns * thumbs.rows;
  return thumbs.thumbnails.slice((number - 1) * perSheet, number * perSheet);
}

/** A thumbnail's place: its sheet (1-based) and its tile's top-left corner in pixels. */
export function tileOf(thumbs: ThumbnailPlan, index: number): { sheet: number; x: number; y: number } {
  const perSheet = thumbs.columns * thumbs.rows;
  const cell = index % perSheet;
  return { sheet: Math.floor(index / perSheet) + 1, x: (cell % thumbs.columns) * thumbs.width, y: Math.floor(cell / thumbs.columns) * thumbs.height };
}
