import type { RenditionHealth } from '../coordinate/rendition-health.js';
import { UnplayableError, type EncodeError } from '../errors.js';
import type { Content } from '../library/media-library.js';
import type { Rendition } from '../plan/renditions.js';
import type { SegmentStore } from '../store/segment-store.js';
import type { EventBus } from './events.js';
import type { Logger } from './log.js';
import type { SessionRegistry } from './sessions.js';

/** Who hears of a segment that failed after every try. */
export interface FailureListeners {
  events: EventBus;
  sessions: SessionRegistry;
  segments: SegmentStore;
  renditions?: RenditionHealth;
  onUnplayable?: (hash: string, reason: string) => void;
}

export interface Failure {
  content: Content;
  found: Rendition;
  /** 0-based segment index (an init's failure is its segment 1's). */
  index: number;
  err: EncodeError;
  log: Logger;
  attempts: number;
}

/**
 * A segment failed after every try: logged, an event, the tools' output kept
 * (session and disk) for whoever investigates the 502, its rendition's health
 * told, and the content marked unplayable when its first segment fails for a
 * reason in the media and no other video rendition is left to offer.
 */
export async function reportFailure(to: FailureListeners, { content, found, index, err, log, attempts }: Failure): Promise<void> {
  const hash = content.metadata.hash;
  const { kind } = found;
  const rendition = found.rendition.id;
  log.error({ err: err.message }, 'encode failed after every try');
  to.events.emit({ type: 'TranscodeFailed', content: hash, kind, rendition, segment: index + 1, reason: err.message, attempts });
  to.sessions.addLog(hash, kind, rendition, index + 1, err.log);
  const record = { event: 'TranscodeFailed', content: hash, kind, rendition, segment: index + 1, reason: err.message, attempts, at: new Date().toISOString() };
  await to.segments.keepFailure(hash, kind, rendition, index + 1, err.log, record);
  const firstSegmentFault = index === 0 && err instanceof UnplayableError;
  // Another video rendition may still play: this one is left out of the manifests rather than the content refused.
  const dropped = kind === 'video' && (to.renditions?.failed(hash, content.plan, rendition, firstSegmentFault) ?? false);
  if (firstSegmentFault && !dropped) to.onUnplayable?.(hash, err.message);
}
