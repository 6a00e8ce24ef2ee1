import { getPath } from 'hono/utils/url';
import { ForbiddenError } from '../errors.js';

/**
 * Signed URLs: `?exp={unix seconds}&sig={base64url HMAC-SHA256(key, scope + "\n" + exp)}`.
 *
 * A signature grants a scope, not one file: everything under
 * /api/v1/content/{hash}/ (or under /vod/{path}/), so a manifest can hand
 * its children the same query and a DASH SegmentTemplate can carry it.
 * The query is never part of a cache key: segments are cached by path, and
 * their ETag and bytes do not depend on who was allowed to fetch them.
 *
 * Web Crypto only, so the origin and the edge worker (Node, Workers, Deno,
 * Bun) share this one implementation.
 */

/** The scopes, matched on the path Hono routes on (see routedPath): a content hash, or a /vod file's folder. */
const CONTENT_SCOPE = /^\/api\/v1\/content\/([0-9a-f]{64})(?:\/|$)/;
const VOD_SCOPE = /^(\/vod\/.+\/)[^/]+$/;
const encoder = new TextEncoder();

function base64url(bytes: ArrayBuffer): string {
  let binary = '';
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Constant-time comparison of two strings. */
function sameString(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export class UrlSigner {
  private readonly key: Promise<CryptoKey>;

  constructor(key: string) {
    this.key = crypto.subtle.importKey('raw', encoder.encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  }

  /**
   * The scope a routed path falls in, or undefined when it has none (then a
   * path in the signed area is refused: see isSignedArea).
   */
  static scopeOf(routed: string): string | undefined {
    const hash = CONTENT_SCOPE.exec(routed)?.[1];
    return hash ? UrlSigner.contentScope(hash) : VOD_SCOPE.exec(routed)?.[1];
  }

  static contentScope(hash: string): string {
    return `/api/v1/content/${hash}/`;
  }

  async signature(scope: string, exp: number): Promise<string> {
    return base64url(await crypto.subtle.sign('HMAC', await this.key, encoder.encode(`${scope}\n${exp}`)));
  }

  /** "?exp=…&sig=…" granting `scope` until `exp`. */
  async query(scope: string, exp: number): Promise<string> {
    return `?exp=${exp}&sig=${await this.signature(scope, exp)}`;
  }

  /** Throws ForbiddenError unless `sig` grants `scope` and `exp` has not passed; returns exp. */
  async verify(scope: string, exp: string | undefined, sig: string | undefined, nowSeconds = Date.now() / 1000): Promise<number> {
    if (!exp || !sig) throw new ForbiddenError('this URL must be signed (exp and sig query parameters)');
    if (!/^\d{1,12}$/.test(exp)) throw new ForbiddenError('exp is not a time');
    const expires = Number(exp);
    if (!sameString(sig, await this.signature(scope, expires))) throw new ForbiddenError('the signature does not match this URL');
    if (expires < nowSeconds) throw new ForbiddenError('the signed URL has expired');
    return expires;
  }
}

/** Constant-time check of an admin bearer token. */
export function hasAdminToken(authorization: string | undefined, token: string): boolean {
  return sameString(/^Bearer (.+)$/.exec(authorization ?? '')?.[1] ?? '', token);
}

/**
 * Whether a routed path is in the area signatures guard: anything that is,
 * or could be taken by any router or file system for, a path under
 * /api/v1/content/ or /vod/: every spelling (case, leftover escapes, `//`,
 * `.` and `..`, backslashes) is folded before the comparison, so the guard
 * denies what it does not recognise instead of letting it through.
 */
export function isSignedArea(routed: string): boolean {
  // The one path of that family outside the area: the admin's content list (GET/POST /api/v1/content).
  if (routed === '/api/v1/content') return false;
  // The players' hot path, answered without folding: these prefixes are in the area however the rest is spelled.
  if (routed.startsWith('/api/v1/content/') || routed.startsWith('/vod/')) return true;
  return [foldPath(routed), routed.toLowerCase().split(/[/\\]+/).filter(Boolean)].some(
    ([first, second, third]) => first === 'vod' || (first === 'api' && second === 'v1' && third === 'content'),
  );
}

/**
 * Whether the router serves a routed path from the players' area (the /vod and content routes, which match literal
 * prefixes). Narrower than isSignedArea on purpose: a path that only folds into the area (`/api/v1/sessions/..%2F..%2Fvod`)
 * reaches other routes, so it must not be spared the admin token.
 */
export function isPlayerRoute(routed: string): boolean {
  // The key endpoint too: its own guard (middleware/key-sessions.ts) lets only a signed session of the content through.
  return routed.startsWith('/vod/') || routed.startsWith('/api/v1/content/') || routed === '/api/v1/keys';
}

/** The segments of a path as the most lenient reader would see them: decoded, lower case, dot segments resolved. */
function foldPath(path: string): string[] {
  let decoded = path;
  for (let round = 0; round < 4 && /%[0-9a-f]{2}/i.test(decoded); round++) {
    decoded = decoded.replace(/%[0-9a-f]{2}/gi, (escape) => String.fromCharCode(parseInt(escape.slice(1), 16)));
  }
  const segments: string[] = [];
  for (const segment of decoded.toLowerCase().split(/[/\\]+/)) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment.trim());
  }
  return segments;
}

/** The path Hono will route a request for `pathAndQuery` on (WHATWG-parsed, then hono's getPath decoding). */
export function routedPathOf(pathAndQuery: string): string {
  return getPath(new Request(new URL(pathAndQuery, 'http://origin.invalid')));
}
