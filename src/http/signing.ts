import { createHmac, timingSafeEqual } from 'node:crypto';
import { ForbiddenError } from '../errors.js';

/**
 * Signed URLs: `?exp={unix seconds}&sig={base64url HMAC-SHA256(key, scope + "\n" + exp)}`.
 *
 * A signature grants a scope, not one file: everything under
 * /api/v1/content/{hash}/ (or under /vod/{path}/), so a manifest can hand
 * its children the same query and a DASH SegmentTemplate can carry it.
 * The query is never part of a cache key: segments are cached by path, and
 * their ETag and bytes do not depend on who was allowed to fetch them.
 */

const CONTENT_SCOPE = /^(\/api\/v1\/content\/[0-9a-f]{64}\/)/;
const VOD_SCOPE = /^(\/vod\/.+\/)[^/]+$/;

export class UrlSigner {
  constructor(private readonly key: string) {}

  /** The scope a request path falls in, or undefined for paths signatures do not cover. */
  static scopeOf(path: string): string | undefined {
    return CONTENT_SCOPE.exec(path)?.[1] ?? VOD_SCOPE.exec(path)?.[1];
  }

  static contentScope(hash: string): string {
    return `/api/v1/content/${hash}/`;
  }

  signature(scope: string, exp: number): string {
    return createHmac('sha256', this.key).update(`${scope}\n${exp}`).digest('base64url');
  }

  /** "?exp=…&sig=…" granting `scope` until `exp`. */
  query(scope: string, exp: number): string {
    return `?exp=${exp}&sig=${this.signature(scope, exp)}`;
  }

  /** Throws ForbiddenError unless `sig` grants `scope` and `exp` has not passed; returns exp. */
  verify(scope: string, exp: string | undefined, sig: string | undefined, nowSeconds = Date.now() / 1000): number {
    if (!exp || !sig) throw new ForbiddenError('this URL must be signed (exp and sig query parameters)');
    if (!/^\d{1,12}$/.test(exp)) throw new ForbiddenError('exp is not a time');
    const expires = Number(exp);
    const expected = Buffer.from(this.signature(scope, expires));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new ForbiddenError('the signature does not match this URL');
    if (expires < nowSeconds) throw new ForbiddenError('the signed URL has expired');
    return expires;
  }
}

/** Constant-time check of an admin bearer token. */
export function hasAdminToken(authorization: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(authorization ?? '')?.[1] ?? '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
