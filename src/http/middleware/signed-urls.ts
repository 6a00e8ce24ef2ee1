import type { MiddlewareHandler } from 'hono';
import { ForbiddenError } from '../../errors.js';
import { isSignedArea, UrlSigner } from '../signing.js';

/**
 * The signed-URL guard, for the origin and the edge alike. It looks at the
 * path Hono routes on (c.req.path: the request URL after WHATWG parsing,
 * percent-decoded by hono's getPath), never at the raw URL, so the path it
 * checks is the path the handlers serve. Deny by default: a request whose
 * path is in the signed area (/api/v1/content/… and /vod/…, however spelled)
 * passes only with a valid signature for that path's scope; a path there
 * with no recognisable scope is refused too.
 */
export function signedUrls(signer: UrlSigner): MiddlewareHandler {
  return async function signedUrls(c, next) {
    await checkSignedUrl(signer, c.req.path, (name) => c.req.query(name));
    await next();
  };
}

/** The guard itself (also run by the warm-segment front, http/segment-front.ts): resolves, or rejects with ForbiddenError. */
export async function checkSignedUrl(signer: UrlSigner, routed: string, query: (name: string) => string | undefined): Promise<void> {
  if (!isSignedArea(routed)) return;
  const scope = UrlSigner.scopeOf(routed);
  if (!scope) throw new ForbiddenError('this path is not one a signature can grant');
  await signer.verify(scope, query('exp'), query('sig'));
}
