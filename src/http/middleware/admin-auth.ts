import type { MiddlewareHandler } from 'hono';
import { ForbiddenError } from '../../errors.js';
import { isPublicPath } from '../public-paths.js';
import { hasAdminToken, isPlayerRoute } from '../signing.js';

/**
 * The admin token guard, for the origin and the edge alike. Deny by
 * default: every request needs `Authorization: Bearer <token>` unless its
 * routed path (c.req.path, what Hono matches routes on) is exactly one of
 * the public ones or is routed to the players' area (which the signing
 * guard looks after). A spelling the router would not serve is
 * therefore refused here, not let through.
 */
export function adminAuth(token: string, isPublic: (routed: string) => boolean = isPublicPath): MiddlewareHandler {
  return async function adminAuth(c, next) {
    checkAdminToken(token, c.req.path, c.req.header('authorization'), isPublic);
    await next();
  };
}

/** The guard itself (also run by the warm-segment front, http/segment-front.ts): returns, or throws ForbiddenError. */
export function checkAdminToken(token: string, routed: string, authorization: string | undefined, isPublic: (routed: string) => boolean = isPublicPath): void {
  if (!isPublic(routed) && !isPlayerRoute(routed) && !hasAdminToken(authorization, token)) {
    throw new ForbiddenError('this endpoint needs the admin token (Authorization: Bearer …)');
  }
}
