import type { Logger } from '../observe/log.js';
import type { EventBus } from '../observe/events.js';
import type { SessionRegistry } from '../observe/sessions.js';
import type { MediaLibrary } from '../library/media-library.js';
import type { Origin } from '../origin.js';
import type { Metrics } from '../metrics.js';
import type { Prefetcher } from '../prefetch/prefetcher.js';
import type { RequestIdVariables } from './middleware/request-id.js';
import type { UrlSigner } from './signing.js';
import type { Protector } from '../package/drm/protector.js';
import type { SegmentSizeLookup } from './manifests.js';
import type { SubtitleService } from '../subtitles/service.js';
import type { ThumbnailOrigin } from '../thumbnail-origin.js';

/** What the HTTP layer is built from (src/server.ts wires it). */
export interface AppDeps {
  library: MediaLibrary;
  origin: Origin;
  metrics: Metrics;
  prefetcher: Prefetcher;
  events: EventBus;
  sessions: SessionRegistry;
  logger: Logger;
  /** Seconds between SSE heartbeats (default 15). */
  heartbeatSeconds?: number;
  /** Events one SSE client may have waiting before it is dropped as too slow (default 1000). */
  sseQueueLimit?: number;
  /** Checks signed URLs on content and /vod paths, and signs manifests' child URLs. */
  signer?: UrlSigner;
  /** Protected content: keys for the key endpoint, PSSH and key ids for the manifests. */
  protector?: Protector;
  /** Bearer token for everything but the player's paths, the UI and /healthz. */
  adminToken?: string;
  /** What GET /api/v1/system reports. */
  system?: () => unknown;
  /** What GET /api/v1/health reports: the dashboard's numbers and alerts. */
  health?: () => unknown;
  /** Media files under the root, for the library page. */
  listMedia?: () => Promise<string[]>;
  /** Cached segments of a content, for the library page. */
  cachedSegments?: (hash: string) => number;
  /** Bytes of a made segment, for the bit rates manifests declare (without it they declare the plan's bounds). */
  segmentSize?: SegmentSizeLookup;
  /** Changes whenever segmentSize may answer otherwise for a content (without it, figures are computed per request). */
  segmentIndexVersion?: (hash: string) => number;
  /** Bytes of recently served segments kept in memory (the warm path). */
  memoryCacheBytes?: number;
  isReady?: () => boolean;
  /** Video renditions of a content left out of its manifests (their segments keep failing). */
  droppedRenditions?: (hash: string) => ReadonlySet<string>;
  /** Seek thumbnails and posters (none: the manifests list no thumbnail track). */
  thumbnails?: ThumbnailOrigin;
  /** A content's subtitle tracks and their WebVTT (without it, no subtitles are offered). */
  subtitles?: SubtitleService;
}

/** The Hono environment of every sub-app: the request id is a context variable. */
export type AppEnv = { Variables: RequestIdVariables };
