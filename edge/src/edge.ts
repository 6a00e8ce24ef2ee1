import { Hono, type Context, type ExecutionContext } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { PayloadTooLargeError } from '../../src/errors.js';
import { errorResponse } from '../../src/http/errors.js';
import { FORWARDED_REQUEST_HEADERS, PREFETCH_HEADER } from '../../src/http/headers.js';
import { adminAuth } from '../../src/http/middleware/admin-auth.js';
import { cors, ORIGIN_EXPOSED_HEADERS } from '../../src/http/middleware/cors.js';
import { requestId, type RequestIdVariables } from '../../src/http/middleware/request-id.js';
import { signedUrls } from '../../src/http/middleware/signed-urls.js';
import { keySessions } from '../../src/http/middleware/key-sessions.js';
import { isPublicPath } from '../../src/http/public-paths.js';
import { sendBytes } from '../../src/http/serve-bytes.js';
import { UrlSigner } from '../../src/http/signing.js';
import type { EdgeCache } from './cache.js';
import { OriginPool } from './origins.js';
import { Upstream, type Fetched } from './upstream.js';

/**
 * The edge: a Hono app on Web-standard APIs only (fetch, Request/Response,
 * Web Crypto), so the same code runs on Node, Cloudflare Workers, Deno and
 * Bun. It keeps the origins cool:
 *
 * - hash-addressed segments and init segments come from the edge cache;
 *   concurrent misses for one file share one origin fetch (X-Cache: HIT,
 *   MISS or COLLAPSED; X-Origin names the origin used);
 * - a segment request warms the next `prefetch` segments of its rendition,
 *   marked (X-Jitseg-Prefetch) so the origin queues them behind players;
 * - manifests pass through with a short TTL; everything else (the UI, JSON
 *   APIs, the SSE event stream) is streamed through as it arrives;
 * - Range, ETag/If-None-Match and Cache-Control behave as at the origin;
 * - each content goes to the same origin (rendezvous hashing), with
 *   failover to the next on an error, a timeout or a 5xx;
 * - the origin sees who is asking: Authorization, X-Playback-Session-Id and
 *   X-Forwarded-For (with the viewer's address appended) are passed on;
 * - with a signing key (and an admin token), the origin's own guards run
 *   here too, the very same middleware, before anything reaches an origin.
 */

export interface EdgeOptions {
  origins: string[];
  cache: EdgeCache;
  /** Segments warmed after each segment request (default 3). */
  prefetch?: number;
  /** Seconds a manifest is served from the edge (default 5). */
  manifestTtlSeconds?: number;
  /** How long one origin may take to answer before the next is tried (default 30 s: a cold encode takes seconds). */
  originTimeoutMs?: number;
  signKey?: string;
  /** The origins' admin token: when given, admin calls without it are refused here already. */
  adminToken?: string;
  /** The viewer's address (Node: the socket's; Workers: CF-Connecting-IP), appended to X-Forwarded-For. */
  clientAddress?: (c: Context) => string | undefined;
  /** Where a failed background prefetch is reported (default console.warn). */
  log?: (message: string) => void;
  fetch?: typeof fetch;
}

type EdgeEnv = { Variables: RequestIdVariables };

/** Files of a content that never change: init and media segments, subtitle WebVTT files (not playlists). Matched on the routed path. */
const IMMUTABLE_FILE = /^\/api\/v1\/content\/([0-9a-f]{64})\/(?:(video|audio)\/[^/]+\/(init\.mp4|[^/]+\.(?:m4s|mp4))|subtitles\/[^/]+\/[^/]+\.vtt)$/;
const MANIFEST = /\.(m3u8|mpd)$/;
const CONTENT_HASH = /^\/api\/v1\/content\/([0-9a-f]{64})\//;
/** Request bodies the edge passes on (registrations, signing requests) are small. */
const MAX_REQUEST_BODY = 64 * 1024;

export function createEdgeApp(options: EdgeOptions) {
  // Called as a plain function: Workers' fetch refuses any other `this` (Illegal invocation).
  const fetchImpl: typeof fetch = options.fetch ?? ((input, init) => fetch(input, init));
  const pool = new OriginPool(options.origins);
  const upstream = new Upstream(pool, fetchImpl, options.originTimeoutMs ?? 30_000);
  /** Origin fetches under way, and whether each is the edge's own prefetch (a player must not wait on one, see immutable). */
  const inflight = new Map<string, { fetching: Promise<Fetched>; prefetch: boolean }>();
  const prefetchCount = options.prefetch ?? 3;
  const manifestTtl = options.manifestTtlSeconds ?? 5;
  const log = options.log ?? ((message: string) => console.warn(`[jitseg-edge] ${message}`));

  /** Who is asking, for the origin: the viewer's identity headers, the request id, X-Forwarded-For with the viewer appended. */
  function forwardedHeaders(c: Context<EdgeEnv>, extra: readonly string[] = []): Headers {
    const headers = new Headers();
    for (const name of [...FORWARDED_REQUEST_HEADERS, ...extra]) {
      const value = c.req.header(name);
      if (value) headers.set(name, value);
    }
    headers.set('x-request-id', c.get('requestId'));
    const chain = [c.req.header('x-forwarded-for'), options.clientAddress?.(c)].filter((v): v is string => !!v?.trim());
    if (chain.length) headers.set('x-forwarded-for', chain.join(', '));
    return headers;
  }

  /** An immutable file: from the cache, or one shared origin fetch that fills it. */
  async function immutable(key: string, target: string, headers: Headers): Promise<{ fetched: Fetched; how: 'HIT' | 'MISS' | 'COLLAPSED' }> {
    const cached = await options.cache.get(key);
    if (cached) return { fetched: { status: 200, entry: cached, origin: cached.headers['x-origin'] ?? '' }, how: 'HIT' };
    const prefetch = headers.has(PREFETCH_HEADER);
    const running = inflight.get(key);
    // A player joins another player's fetch, never the edge's own prefetch: the origin queues that one as prefetch
    // (low CPU priority, no max-wait deadline). Its own, unmarked fetch lets the origin join the encode and raise it.
    if (running && (prefetch || !running.prefetch)) return { fetched: await running.fetching, how: 'COLLAPSED' };
    const fetching = upstream.buffered(CONTENT_HASH.exec(key)?.[1] ?? key, target, headers).then(async (fetched) => {
      if (fetched.status === 200) {
        const entry = { body: fetched.entry.body, headers: { ...fetched.entry.headers, 'x-origin': fetched.origin } };
        await options.cache.put(key, entry, shortLifetime(fetched.entry.headers['cache-control']));
      }
      return fetched;
    });
    const entry = { fetching, prefetch };
    inflight.set(key, entry);
    try {
      return { fetched: await fetching, how: 'MISS' };
    } finally {
      if (inflight.get(key) === entry) inflight.delete(key);
    }
  }

  /** After segment N, the next ones of the rendition, with the same query (a signature grants them too), marked as prefetch. */
  function warmNext(c: Context<EdgeEnv>, key: string, rawPath: string, query: string): void {
    const headers = forwardedHeaders(c);
    headers.set(PREFETCH_HEADER, '1');
    for (let k = 1; k <= prefetchCount; k++) {
      const nextKey = nextSegment(key, k);
      const nextRaw = nextSegment(rawPath, k);
      if (!nextKey || !nextRaw) return;
      const work = (async () => {
        if (await options.cache.has(nextKey)) return;
        await immutable(nextKey, `${nextRaw}${query}`, headers);
      })().catch((err: unknown) => log(`prefetch of ${nextKey} failed: ${err instanceof Error ? err.message : String(err)}`));
      inBackground(c, work);
    }
  }

  const app = new Hono<EdgeEnv>();
  app.use('*', cors({ exposeHeaders: [...ORIGIN_EXPOSED_HEADERS, 'X-Cache', 'X-Origin'] }));
  app.use('*', requestId());
  if (options.signKey) app.use('*', signedUrls(new UrlSigner(options.signKey)));
  // Key requests are refused here unless signed for their content; the ones let through are never cached (passThrough).
  if (options.signKey) app.use('*', keySessions(new UrlSigner(options.signKey)));
  if (options.adminToken) app.use('*', adminAuth(options.adminToken, (routed) => routed === '/edge/healthz' || isPublicPath(routed)));
  app.onError((err, c) => errorResponse(c, err));

  app.get('/edge/healthz', (c) => c.json({ status: 'ok', origins: pool.report() }));

  app.on(['GET', 'HEAD'], '*', async (c) => {
    // Classified and cached by the routed path (what the guards checked and the origin will serve);
    // sent to the origin as it came, which the origin routes to that same path.
    const routed = c.req.path;
    const url = new URL(c.req.url);
    if (IMMUTABLE_FILE.test(routed)) {
      if (/\bonly-if-cached\b/i.test(c.req.header('cache-control') ?? '') && !(await options.cache.has(routed))) {
        return c.json({ error: 'not_cached', message: 'not in the edge cache (only-if-cached)' }, 504);
      }
      const { fetched, how } = await immutable(routed, url.pathname + url.search, forwardedHeaders(c));
      if (fetched.status === 200) warmNext(c, routed, url.pathname, url.search);
      return respond(c, fetched, how);
    }
    if (MANIFEST.test(routed)) {
      // Manifests are small and cheap at the origin, but a crowd asks for them: a few seconds at the edge.
      const key = `manifest:${routed}${url.search}`;
      const cached = await options.cache.get(key);
      if (cached) return respond(c, { status: 200, entry: cached, origin: cached.headers['x-origin'] ?? '' }, 'HIT');
      const fetched = await upstream.buffered(CONTENT_HASH.exec(routed)?.[1] ?? routed, url.pathname + url.search, forwardedHeaders(c));
      if (fetched.status === 200) await options.cache.put(key, { body: fetched.entry.body, headers: { ...fetched.entry.headers, 'x-origin': fetched.origin } }, manifestTtl);
      return respond(c, fetched, 'MISS');
    }
    return passThrough(c);
  });
  // Admin calls (registration, signing) pass through with their small bodies.
  app.post('*', (c) => passThrough(c));

  /** Anything the edge does not cache: streamed through as the origin sends it (SSE included). */
  async function passThrough(c: Context<EdgeEnv>): Promise<Response> {
    const url = new URL(c.req.url);
    const headers = forwardedHeaders(c, ['range', 'if-none-match', 'if-modified-since', 'content-type']);
    let body: ArrayBuffer | undefined;
    if (c.req.method === 'POST') {
      body = await c.req.arrayBuffer();
      if (body.byteLength > MAX_REQUEST_BODY) throw new PayloadTooLargeError(`request body too large for the edge (limit ${MAX_REQUEST_BODY / 1024} KiB)`);
    }
    const { response, origin } = await upstream.streamed(c.req.path, url.pathname + url.search, { method: c.req.method, headers, ...(body ? { body } : {}), signal: c.req.raw.signal });
    response.headers.set('X-Cache', 'MISS');
    response.headers.set('X-Origin', origin);
    return response;
  }

  return { app, pool, cache: options.cache, checkOrigins: () => pool.check(fetchImpl) };
}

/** The path of segment N+k for a segment path ending in N, or undefined for init segments and other names. */
function nextSegment(path: string, k: number): string | undefined {
  const m = /^(.*\/)([^/]*?)(\d+)(\.m4s|\.mp4)$/.exec(path);
  if (!m || path.endsWith('/init.mp4')) return undefined;
  const [, dir, prefix, number, ext] = m;
  return `${dir}${prefix}${Number(number) + k}${ext}`;
}

/**
 * Background work that must outlive the response: on Workers the request's
 * own execution context keeps it alive (never a module-wide one, which the
 * next request would replace); the Node edge passes one in too. A bare
 * app.fetch(request) has none, and then the work simply runs.
 */
function inBackground(c: Context, work: Promise<unknown>): void {
  let context: ExecutionContext | undefined;
  try {
    context = c.executionCtx;
  } catch (err) {
    // Hono throws exactly this when app.fetch was given no execution context.
    if (!(err instanceof Error && /ExecutionContext/.test(err.message))) throw err;
  }
  context?.waitUntil(work);
}

/**
 * The response for a fetched or cached file: a 200 goes through the origin's
 * own byte serving (ETag/If-None-Match, Range, Content-Length), so the edge
 * answers exactly as the origin would; anything else passes through.
 */
function respond(c: Context, fetched: Fetched, how: 'HIT' | 'MISS' | 'COLLAPSED'): Response {
  const { entry, status } = fetched;
  c.header('X-Cache', how);
  if (fetched.origin) c.header('X-Origin', fetched.origin);
  const { etag, 'content-type': contentType, 'cache-control': cacheControl, ...others } = entry.headers;
  for (const [name, value] of Object.entries(others)) if (name !== 'x-origin') c.header(name, value);
  if (status === 200 && etag && contentType && cacheControl) return sendBytes(c, { body: new Uint8Array(entry.body), etag, contentType, cacheControl });
  // Errors and the rare response without caching headers pass through as they came.
  for (const [name, value] of Object.entries({ etag, 'content-type': contentType, 'cache-control': cacheControl })) if (value) c.header(name, value);
  return c.body(entry.body, status as ContentfulStatusCode);
}

/**
 * The lifetime of a content file the origin marks as not immutable (a degraded segment, replaced by its normal
 * encode soon: see the origin's README, "Quality bends under load"); undefined for an immutable one, kept until evicted.
 */
export function shortLifetime(cacheControl: string | undefined): number | undefined {
  if (!cacheControl || /\bimmutable\b/i.test(cacheControl)) return undefined;
  const maxAge = /\bmax-age=(\d+)/i.exec(cacheControl)?.[1];
  return maxAge === undefined ? undefined : Math.max(1, Number(maxAge));
}
