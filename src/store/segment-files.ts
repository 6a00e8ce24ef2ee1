import type { Content } from '../library/media-library.js';
import { NotFoundError } from '../errors.js';
import { segmentFileName } from '../plan/plan.js';
import { findRendition, segmentCountOf, type Rendition } from '../plan/renditions.js';
import type { MediaKind } from './content-store.js';
import type { SampleIndexStorage } from '../transcode/sample-index.js';
import type { Logger } from '../observe/log.js';
import type { InitFile, SegmentFile, SegmentStore, StoredFile } from './segment-store.js';
import { initProtection, type Protector } from '../package/drm/protector.js';

/** Where a rendition's files live in the store, and what each must hold (the store checks it on every read and write). */

export interface FileAddress {
  content: Content;
  kind: MediaKind;
  renditionId: string;
  /** 1-based segment number, or "init". */
  number: number | 'init';
}

/** Store location, cluster-wide key and expected contents of a segment or init segment, and its rendition; checks both. */
export function locate(segments: SegmentStore, { content, kind, renditionId, number }: FileAddress, protector?: Protector) {
  const { plan } = content;
  const found = findRendition(plan, kind, renditionId);
  const segmentCount = segmentCountOf(plan, found);
  if (number !== 'init' && (!Number.isInteger(number) || number < 1 || number > segmentCount)) {
    throw new NotFoundError(`segment ${number} is out of range (1-${segmentCount})`);
  }
  const fileName = number === 'init' ? 'init.mp4' : segmentFileName(plan.segmentTemplate, number);
  const stored: StoredFile = number === 'init' ? initFileOf(segments, content, found, protector) : segmentFileOf(segments, content, found, number);
  return { stored, key: `${content.metadata.hash}/${kind}/${renditionId}/${fileName}`, fileName, found, segmentCount };
}

/** A rendition's init segment in the store, and what it must declare (a protected content's: its scheme and key id). */
export function initFileOf(segments: SegmentStore, content: Content, found: Rendition, protector?: Protector): InitFile {
  const path = segments.mediaPath(content.metadata.hash, found.kind, found.rendition.id, 'init.mp4');
  const shape = found.kind === 'video' ? { width: found.rendition.width, height: found.rendition.height } : { channels: found.rendition.channels };
  const protection = initProtection(protector, content, found.kind);
  return { role: 'init', path, expect: { timescale: content.plan.timescale, codecs: found.rendition.codecs, video: found.kind === 'video', ...shape, ...protection } };
}

/** Media segment `number` (1-based) in the store, and what the plan says it holds. */
export function segmentFileOf(segments: SegmentStore, content: Content, found: Rendition, number: number): SegmentFile {
  const { plan } = content;
  const planned = found.kind === 'video' ? plan.videoSegments[number - 1]! : found.rendition.segments[number - 1]!;
  const path = segments.mediaPath(content.metadata.hash, found.kind, found.rendition.id, segmentFileName(plan.segmentTemplate, number));
  const expect = { sequence: number, sampleCount: planned.frameCount, baseMediaDecodeTime: planned.start, duration: planned.duration, video: found.kind === 'video' };
  return { role: 'segment', path, expect };
}

/** An audio track's sample index, kept beside the content's probe (see transcode/sample-index.ts). */
export function sampleIndexStorageOf(segments: SegmentStore, hash: string, trackIndex: number, logger: Logger): SampleIndexStorage {
  const name = `audio-index-${trackIndex}.bin`;
  return {
    load: () => segments.readAside(hash, name),
    save: async (bytes) => {
      await segments.keepAside(hash, name, bytes);
    },
    scanFailed: (err) => logger.warn({ err, content: hash, track: trackIndex }, 'audio sample index scan failed in the background'),
  };
}
