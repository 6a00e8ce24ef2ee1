import type { Context } from 'hono';
import type { Content } from '../library/media-library.js';
import type { EventBus } from '../observe/events.js';
import type { Plan } from '../plan/plan.js';
import { etagOf, type CachedBody } from './body-cache.js';
import { sendBytes } from './serve-bytes.js';
import { UrlSigner } from './signing.js';

export const HLS_TYPE = 'application/vnd.apple.mpegurl';
export const DASH_TYPE = 'application/dash+xml';
/** Hash-addressed manifests change only with the server's config. */
export const CONTENT_MANIFEST_TTL = 'public, max-age=300';
/** Path-addressed manifests follow the file behind the path, which may be replaced. */
export const PATH_MANIFEST_TTL = 'public, max-age=10';

export type ManifestResponder = (c: Context, content: Content, key: string, render: () => string, contentType: string, cacheControl: string) => Response;

/**
 * Manifests are pure functions of the plan: each is rendered (and its ETag
 * hashed) once per plan and kept with it. With signed URLs the child URLs
 * differ per request, so then each is rendered per request and not cached.
 */
export function manifestResponder(events: EventBus, signer: UrlSigner | undefined): ManifestResponder {
  const rendered = new WeakMap<Plan, Map<string, CachedBody>>();
  return (c, { plan, metadata }, key, render, contentType, cacheControl) => {
    if (signer) {
      const body = render();
      return sendBytes(c, { body: Buffer.from(body), etag: etagOf(body), contentType, cacheControl: 'private, no-store' });
    }
    let forPlan = rendered.get(plan);
    if (!forPlan) rendered.set(plan, (forPlan = new Map()));
    let cached = forPlan.get(key);
    if (!cached) {
      const body = render();
      cached = { body: Buffer.from(body), etag: etagOf(body) };
      forPlan.set(key, cached);
      events.emit({ type: 'ManifestUpdated', content: metadata.hash, manifest: contentType === DASH_TYPE ? 'dash' : 'hls', segments: plan.videoSegments.length });
    }
    return sendBytes(c, { ...cached, contentType, cacheControl });
  };
}

/** The query that grants a (verified) request's children: the same expiry, the content's scope. */
export async function childQuery(c: Context, signer: UrlSigner | undefined, hash: string): Promise<string> {
  if (!signer) return '';
  return signer.query(UrlSigner.contentScope(hash), Number(c.req.query('exp')));
}
