import type { MiddlewareHandler } from 'hono';
import { checkAdminToken } from './middleware/admin-auth.js';
import { checkKeySession, isKeyArea } from './middleware/key-sessions.js';
import { checkSignedUrl } from './middleware/signed-urls.js';
import type { UrlSigner } from './signing.js';

/**
 * The origin's access guards, listed once: the app runs each as a middleware
 * (in this order, after CORS, the request id and the access log) and the
 * warm-segment front (segment-front.ts) runs the same list before it answers.
 * Each resolves, or rejects with ForbiddenError. The checks themselves live
 * in middleware/ and are shared with the edge.
 */
export interface GuardedRequest {
  /** The path Hono routes on. */
  readonly path: string;
  query(name: string): string | undefined;
  header(name: string): string | undefined;
}

/** Returns nothing when it has nothing to wait for (the front then waits for nothing). */
export type RequestGuard = (request: GuardedRequest) => void | Promise<void>;

export function originGuards({ signer, adminToken }: { signer?: UrlSigner | undefined; adminToken?: string | undefined }): RequestGuard[] {
  const guards: RequestGuard[] = [];
  if (signer) guards.push((request) => checkSignedUrl(signer, request.path, (name) => request.query(name)));
  guards.push((request) => (isKeyArea(request.path) ? checkKeySession(signer, request.path, (name) => request.query(name)) : undefined));
  if (adminToken) guards.push((request) => checkAdminToken(adminToken, request.path, request.header('authorization')));
  return guards;
}

/** A guard as Hono middleware: it sees the path Hono routes on, and Hono's reading of the query and headers. */
export function guardMiddleware(guard: RequestGuard): MiddlewareHandler {
  return async function guarded(c, next) {
    await guard({ path: c.req.path, query: (name) => c.req.query(name), header: (name) => c.req.header(name) });
    await next();
  };
}
