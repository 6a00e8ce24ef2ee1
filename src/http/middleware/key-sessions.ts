import type { MiddlewareHandler } from 'hono';
import { ForbiddenError } from '../../errors.js';
import { UrlSigner } from '../signing.js';

/** The key endpoint's routed path. */
export const KEYS_PATH = '/api/v1/keys';

/**
 * The key endpoint's guard, for the origin and the edge alike (Web Crypto
 * only, like the signed-URL guard): `/api/v1/keys?content={hash}&exp=…&sig=…`
 * answers only with a signature that grants that content's scope, the one its
 * manifests and segments are signed for. So a viewer with a signed session of
 * a content gets that content's keys, and a leaked segment URL alone gives
 * keys only while its signature lasts, only for its content. Every other
 * spelling of the path is refused (deny by default).
 */
export function keySessions(signer: UrlSigner | undefined): MiddlewareHandler {
  return async function keySessions(c, next) {
    await checkKeySession(signer, c.req.path, (name) => c.req.query(name));
    await next();
  };
}

/** The guard itself (also run by the warm-segment front, http/segment-front.ts): resolves, or rejects with ForbiddenError. */
export async function checkKeySession(signer: UrlSigner | undefined, routed: string, query: (name: string) => string | undefined): Promise<void> {
  if (!isKeyArea(routed)) return;
  if (routed !== KEYS_PATH) throw new ForbiddenError('this path is not one a signature can grant');
  const hash = query('content');
  if (!hash || !/^[0-9a-f]{64}$/.test(hash)) throw new ForbiddenError('the key endpoint needs content={hash} and a signature for it');
  // Without signing configured there is no session to check: keys are never given out.
  if (!signer) throw new ForbiddenError('keys are only given to signed sessions, and this server signs none');
  await signer.verify(UrlSigner.contentScope(hash), query('exp'), query('sig'));
}

/** Any spelling of a path under /api/v1/keys (case, repeated or back slashes): guarded, and only the exact one served. */
export function isKeyArea(routed: string): boolean {
  // The players' hot path, answered without splitting: its third segment is "content".
  if (routed.startsWith('/api/v1/content/')) return false;
  const [first, second, third] = routed.toLowerCase().split(/[/\\]+/).filter(Boolean);
  return first === 'api' && second === 'v1' && third !== undefined && third.startsWith('keys');
}
