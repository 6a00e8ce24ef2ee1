import { Hono, type Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ForbiddenError } from '../../src/errors.js';
import { sendBytes } from '../../src/http/serve-bytes.js';
import { UrlSigner } from '../../src/http/signing.js';
import type { CachedResponse, EdgeCache } from './cache.js';
import { OriginPool } from './origins.js';

/**
 * The edge: a Hono app on Web-standard APIs only (fetch, Request/Response,
 * Web Crypto), so the same code runs on Node, Cloudflare Workers, Deno and
 * Bun. It keeps the origins cool:
 *
 * - hash-addressed segments and init segments come from the edge cache;
 *   concurrent misses for one file share one origin fetch (X-Cache: HIT,
 *   MISS or COLLAPSED; X-Origin names the origin used);
 * - a segment request warms the next `prefetch` segments of its rendition;
 * - manifests pass through with a short TTL; everything else passes through;
 * - Range, ETag/If-None-Match and Cache-Control behave as at the origin;
 * - each content goes to the same origin (rendezvous hashing), with
 *   failover to the next on an error, a timeout or a 5xx;
 * - with a signing key, signed URLs are checked here, before the origin.
 */

export interface EdgeOptions {
  origins: string[];
  cache: EdgeCache;
  /** Segments warmed after each segment request (default 3). */
  prefetch?: number;
  /** Seconds a manifest is served from the edge (default 5). */
  manifestTtlSeconds?: number;
  /** How long one origin may take for a file before the next is tried (default 30 s: a cold encode takes seconds). */
  originTimeoutMs?: number;
  signKey?: string;
  /** Background work that must finish after the response (Workers: ctx.waitUntil). */
  waitUntil?: (work: Promise<unknown>) => void;
  fetch?: typeof fetch;
}

/** Files of a content that never change: init and media segments (not playlists). */
const IMMUTABLE_FILE = /^\/api\/v1\/content\/([0-9a-f]{64})\/(video|audio)\/[^/]+\/(init\.mp4|[^/]+\.(?:m4s|mp4))$/;
const MANIFEST = /\.(m3u8|mpd)$/;
const CONTENT_HASH = /\/api\/v1\/content\/([0-9a-f]{64})\//;
/** Response headers the edge keeps from the origin. */
const KEPT_HEADERS = ['content-type', 'cache-control', 'etag', 'last-modified', 'link', 'access-control-allow-origin', 'access-control-expose-headers', 'vary'];

interface Fetched {
  status: number;
  entry: CachedResponse;
  origin: string;
}

class OriginUnavailable extends Error {}

export function createEdgeApp(options: EdgeOptions) {
  const fetchImpl = options.fetch ?? fetch;
  const pool = new OriginPool(options.origins);
  const signer = options.signKey ? new UrlSigner(options.signKey) : undefined;
  const inflight = new Map<string, Promise<Fetched>>();
  const prefetchCount = options.prefetch ?? 3;
  const manifestTtl = options.manifestTtlSeconds ?? 5;
  const timeoutMs = options.originTimeoutMs ?? 30_000;
  const background = options.waitUntil ?? ((work: Promise<unknown>) => void work.catch(() => undefined));

  /** GET `pathAndQuery` from the best origin for `routingKey`, failing over on network errors, timeouts and 5xx. */
  async function fromOrigins(routingKey: string, pathAndQuery: string, request?: Request): Promise<Fetched> {
    let lastError: unknown;
    for (const origin of pool.order(routingKey)) {
      try {
        const headers = new Headers();
        for (const name of ['accept', 'user-agent', 'x-request-id', 'x-playback-session-id']) {
          const value = request?.headers.get(name);
          if (value) headers.set(name, value);
        }
        const response = await fetchImpl(`${origin}${pathAndQuery}`, { headers, signal: AbortSignal.timeout(timeoutMs) });
        const body = await response.arrayBuffer();
        if (response.status >= 500) {
          lastError = new OriginUnavailable(`${origin} answered ${response.status}`);
          if (response.status !== 503) pool.mark(origin, false);
          // The last origin's answer (e.g. a 503 with Retry-After) is better than none.
          if (origin === pool.order(routingKey).at(-1)) return { status: response.status, entry: { body, headers: keptHeaders(response.headers) }, origin };
          continue;
        }
        pool.mark(origin, true);
        return { status: response.status, entry: { body, headers: keptHeaders(response.headers) }, origin };
      } catch (err) {
        lastError = err;
        pool.mark(origin, false);
      }
    }
    throw new OriginUnavailable(`no origin could answer: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
  }

  /** An immutable file: from the cache, or one shared origin fetch that fills it. */
  async function immutable(path: string, pathAndQuery: string, request?: Request): Promise<{ fetched: Fetched; how: 'HIT' | 'MISS' | 'COLLAPSED' }> {
    const cached = await options.cache.get(path);
    if (cached) return { fetched: { status: 200, entry: cached, origin: cached.headers['x-origin'] ?? '' }, how: 'HIT' };
    const running = inflight.get(path);
    if (running) return { fetched: await running, how: 'COLLAPSED' };
    const hash = CONTENT_HASH.exec(path)?.[1] ?? path;
    const fetching = fromOrigins(hash, pathAndQuery, request).then(async (fetched) => {
      if (fetched.status === 200) await options.cache.put(path, { body: fetched.entry.body, headers: { ...fetched.entry.headers, 'x-origin': fetched.origin } });
      return fetched;
    });
    inflight.set(path, fetching);
    try {
      return { fetched: await fetching, how: 'MISS' };
    } finally {
      inflight.delete(path);
    }
  }

  /** After segment N, the next ones of the rendition, with the same query (a signature grants them too). */
  function warmNext(path: string, query: string): void {
    const m = /^(.*\/)([^/]*?)(\d+)(\.m4s|\.mp4)$/.exec(path);
    if (!m || path.endsWith('/init.mp4')) return;
    const [, dir, prefix, number, ext] = m;
    for (let k = 1; k <= prefetchCount; k++) {
      const next = `${dir}${prefix}${Number(number) + k}${ext}`;
      background(
        (async () => {
          if (await options.cache.has(next)) return;
          await immutable(next, `${next}${query}`);
        })().catch(() => undefined),
      );
    }
  }

  const app = new Hono();

  app.onError((err, c) => {
    const status = err instanceof ForbiddenError ? 403 : err instanceof OriginUnavailable ? 502 : 500;
    return c.json({ error: status === 403 ? 'forbidden' : status === 502 ? 'origin_unavailable' : 'internal_error', message: err.message }, status, {
      'Cache-Control': 'no-store',
      'Access-Control-Allow-Origin': '*',
    });
  });

  app.get('/edge/healthz', (c) => c.json({ status: 'ok', origins: pool.report() }));

  // Signed URLs are checked at the edge, before anything reaches an origin.
  if (signer) {
    app.use('*', async (c, next) => {
      const scope = UrlSigner.scopeOf(new URL(c.req.url).pathname);
      if (scope) await signer.verify(scope, c.req.query('exp'), c.req.query('sig'));
      await next();
    });
  }

  app.on(['GET', 'HEAD'], '*', async (c) => {
    const url = new URL(c.req.url);
    const path = url.pathname;
    if (IMMUTABLE_FILE.test(path)) {
      const { fetched, how } = await immutable(path, path + url.search, c.req.raw);
      if (fetched.status === 200) warmNext(path, url.search);
      return respond(c, fetched, how);
    }
    if (MANIFEST.test(path)) {
      // Manifests are small and cheap at the origin, but a crowd asks for them: a few seconds at the edge.
      const key = `manifest:${path}${url.search}`;
      const cached = await options.cache.get(key);
      if (cached) return respond(c, { status: 200, entry: cached, origin: cached.headers['x-origin'] ?? '' }, 'HIT');
      const fetched = await fromOrigins(CONTENT_HASH.exec(path)?.[1] ?? path, path + url.search, c.req.raw);
      if (fetched.status === 200) await options.cache.put(key, { body: fetched.entry.body, headers: { ...fetched.entry.headers, 'x-origin': fetched.origin } }, manifestTtl);
      return respond(c, fetched, 'MISS');
    }
    // Anything else (the UI, JSON APIs, /vod lookups that are not manifests) passes through.
    const fetched = await fromOrigins(path, path + url.search, c.req.raw);
    return respond(c, fetched, 'MISS');
  });

  return { app, pool, cache: options.cache, checkOrigins: () => pool.check(fetchImpl) };
}

function keptHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of KEPT_HEADERS) {
    const value = headers.get(name);
    if (value) out[name] = value;
  }
  return out;
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
  c.header('Access-Control-Allow-Origin', '*');
  c.header('Access-Control-Expose-Headers', 'Content-Length, Content-Range, Accept-Ranges, ETag, Cache-Control, X-Cache, X-Origin');
  const { etag, 'content-type': contentType, 'cache-control': cacheControl, ...others } = entry.headers;
  for (const [name, value] of Object.entries(others)) if (name !== 'x-origin') c.header(name, value);
  if (status === 200 && etag && contentType && cacheControl) return sendBytes(c, { body: new Uint8Array(entry.body), etag, contentType, cacheControl });
  // Errors and the rare response without caching headers pass through as they came.
  for (const [name, value] of Object.entries({ etag, 'content-type': contentType, 'cache-control': cacheControl })) if (value) c.header(name, value);
  return c.body(entry.body, status as ContentfulStatusCode);
}
