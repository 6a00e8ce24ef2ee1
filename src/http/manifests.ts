import type { Context } from 'hono';
import type { Content } from '../library/media-library.js';
import { figuresVersion, manifestFigures, type ManifestFigures, type SegmentSizes } from '../manifest/figures.js';
import type { EventBus } from '../observe/events.js';
import { segmentFileName, type Plan } from '../plan/plan.js';
import type { MediaKind } from '../store/content-store.js';
import { etagOf, type CachedBody } from './body-cache.js';
import { sendBytes } from './serve-bytes.js';
import { UrlSigner } from './signing.js';
import type { Protector } from '../package/drm/protector.js';
import type { ManifestProtection } from '../manifest/protection.js';

export const HLS_TYPE = 'application/vnd.apple.mpegurl';
export const DASH_TYPE = 'application/dash+xml';
/**
 * Hash-addressed manifests change with the server's config, and their bit
 * rates move from the plan's upper bounds to the measured ones as segments
 * are made: a cache may keep an older text for five minutes, whose figures
 * are higher (never lower) than the newer ones, and then revalidates.
 */
export const CONTENT_MANIFEST_TTL = 'public, max-age=300';
/** Path-addressed manifests follow the file behind the path, which may be replaced. */
export const PATH_MANIFEST_TTL = 'public, max-age=10';

/**
 * `version` names what else than the plan the text depends on (the figures:
 * figuresVersion); a text rendered for another version is rendered again.
 */
export type ManifestResponder = (
  c: Context,
  content: Content,
  key: string,
  render: () => string,
  contentType: string,
  cacheControl: string,
  version?: string,
) => Response;

/** Bytes of a made segment, from the store's index; undefined when it is not there. */
export type SegmentSizeLookup = (hash: string, kind: MediaKind, renditionId: string, fileName: string) => number | undefined;

/**
 * Manifests are pure functions of the plan and the figures: each is rendered
 * (and its ETag hashed) once per plan and version of the figures, and kept
 * with the plan until the figures change. With signed URLs the child URLs
 * differ per request, so then each is rendered per request and not cached.
 */
export function manifestResponder(events: EventBus, signer: UrlSigner | undefined): ManifestResponder {
  const rendered = new WeakMap<Plan, Map<string, CachedBody & { version: string }>>();
  return (c, { plan, metadata }, key, render, contentType, cacheControl, version = '') => {
    if (signer) {
      const body = render();
      return sendBytes(c, { body: Buffer.from(body), etag: etagOf(body), contentType, cacheControl: 'private, no-store' });
    }
    let forPlan = rendered.get(plan);
    if (!forPlan) rendered.set(plan, (forPlan = new Map()));
    let cached = forPlan.get(key);
    if (cached?.version !== version) {
      const body = render();
      cached = { body: Buffer.from(body), etag: etagOf(body), version };
      forPlan.set(key, cached);
      events.emit({ type: 'ManifestUpdated', content: metadata.hash, manifest: contentType === DASH_TYPE ? 'dash' : 'hls', segments: plan.videoSegments.length });
    }
    return sendBytes(c, { body: cached.body, etag: cached.etag, contentType, cacheControl });
  };
}

type Figures = { figures: ManifestFigures; version: string };

/** Figures by plan, with the segment index version they were computed at. */
const figuresCache = new WeakMap<Plan, { lookup: SegmentSizeLookup | undefined; indexVersion: number; figures: Figures }>();

/**
 * The bit rates a content's manifests declare now: measured for every
 * segment the store's index holds, the plan's bound for the others (see
 * manifest/figures.ts), and the version they are rendered under. Kept per
 * plan until the index gains or loses one of the content's segments
 * (`indexVersion`; without it they are computed every time): a pass over
 * every segment of every rendition, ~3 ms for a 2 h film.
 */
export function contentFigures(content: Content, sizeOf: SegmentSizeLookup | undefined, indexVersion?: (hash: string) => number): Figures {
  const version = sizeOf && indexVersion ? indexVersion(content.metadata.hash) : 0;
  const cached = figuresCache.get(content.plan);
  if (cached && cached.lookup === sizeOf && cached.indexVersion === version && (!sizeOf || indexVersion)) return cached.figures;
  const figures = computeFigures(content, sizeOf);
  figuresCache.set(content.plan, { lookup: sizeOf, indexVersion: version, figures });
  return figures;
}

function computeFigures(content: Content, sizeOf: SegmentSizeLookup | undefined): Figures {
  const { plan, metadata } = content;
  const longest = Math.max(plan.videoSegments.length, ...plan.audio.map((a) => a.segments.length));
  const names = Array.from({ length: longest }, (_, i) => segmentFileName(plan.segmentTemplate, i + 1));
  const sizes = (kind: MediaKind, id: string, count: number): SegmentSizes => names.slice(0, count).map((name) => sizeOf?.(metadata.hash, kind, id, name));
  const figures = manifestFigures(plan, {
    video: Object.fromEntries(plan.renditions.map((r) => [r.id, sizes('video', r.id, plan.videoSegments.length)])),
    audio: Object.fromEntries(plan.audio.map((a) => [a.id, sizes('audio', a.id, a.segments.length)])),
  });
  return { figures, version: figuresVersion(figures) };
}

/** The query that grants a (verified) request's children: the same expiry, the content's scope. */
export async function childQuery(c: Context, signer: UrlSigner | undefined, hash: string): Promise<string> {
  if (!signer) return '';
  return signer.query(UrlSigner.contentScope(hash), Number(c.req.query('exp')));
}

/**
 * What a protected content's manifests declare (undefined for clear content):
 * key ids, PSSH boxes, and the ClearKey license URL, signed like the
 * manifest's children (`query`) and absolute (players resolve it against
 * their page, not the manifest): `streaming.drm.key_url`, else this request's origin.
 */
export async function manifestProtection(c: Context, protector: Protector | undefined, content: Content, query: string): Promise<ManifestProtection | undefined> {
  const scheme = content.plan.protection?.scheme;
  if (!scheme || !protector) return undefined;
  const hash = content.metadata.hash;
  const keys = await protector.keysFor(hash);
  const base = protector.config.key_url?.replace(/\/+$/, '') ?? new URL(c.req.url).origin;
  const clearKeyUrl = `${base}/api/v1/keys?content=${hash}${query ? `&${query.slice(1)}` : ''}`;
  return { scheme, kids: { video: keys.video.kid, audio: keys.audio.kid }, pssh: await protector.pssh(hash), clearKeyUrl };
}
