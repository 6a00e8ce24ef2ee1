import type { MiddlewareHandler } from 'hono';
import { checkAdminToken } from './middleware/admin-auth.js';
import { checkKeySession } from './middleware/key-sessions.js';
import { checkSignedUrl } from './middleware/signed-urls.js';
import type { UrlSigner } from './signing.js';

/**
 * The origin's access guards, listed once: the app runs each as a middleware
 * (in this order, after CORS, the request id and the access log) and the
 * warm-segment front (segment-front.ts) runs the same list before it answers.
 * Each resolves, or rejects with ForbiddenError. The checks themselves live
 * in middleware/ and are shared with the edge.
 */
export type RequestGuard = (routed: string, query: (name: string) => string | undefined, header: (name: string) => string | undefined) => void | Promise<void>;

export function originGuards({ signer, adminToken }: { signer?: UrlSigner | undefined; adminToken?: string | undefined }): RequestGuard[] {
  const guards: RequestGuard[] = [];
  if (signer) guards.push((routed, query) => checkSignedUrl(signer, routed, query));
  guards.push((routed, query) => checkKeySession(signer, routed, query));
  if (adminToken) guards.push((routed, _query, header) => checkAdminToken(adminToken, routed, header('authorization')));
  return guards;
}

/** A guard as Hono middleware: it sees the path Hono routes on, and Hono's reading of the query and headers. */
export function guardMiddleware(guard: RequestGuard): MiddlewareHandler {
  return async function guarded(c, next) {
    await guard(c.req.path, (name) => c.req.query(name), (name) => c.req.header(name));
    await next();
  };
}
