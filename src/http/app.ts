import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { LRUCache } from 'lru-cache';
import { ForbiddenError, InvalidRequestError, NotFoundError, PayloadTooLargeError } from '../errors.js';
import { hasAdminToken, UrlSigner } from './signing.js';
import { streamSSE } from 'hono/streaming';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observe/log.js';
import { EVENT_TYPES, type EventBus, type PipelineEventType, type StampedEvent } from '../observe/events.js';
import type { SessionRegistry } from '../observe/sessions.js';
import type { Content, MediaLibrary } from '../library/media-library.js';
import { dashManifest } from '../manifest/dash.js';
import { audioMediaPlaylist, multivariantPlaylist, videoMediaPlaylist } from '../manifest/hls.js';
import { segmentFileName, segmentNumberFromFileName, type Plan } from '../plan/plan.js';
import { findRendition, PEER_HEADER, segmentCountOf, type Origin } from '../origin.js';
import type { Metrics } from '../metrics.js';
import type { Prefetcher } from '../prefetch/prefetcher.js';
import type { MediaKind } from '../store/content-store.js';
import { errorResponse } from './errors.js';
import { sendBytes } from './serve-bytes.js';

/**
 * The REST API (the design's endpoints) on Hono. Everything under
 * /api/v1/content/{hash}/ is addressed by content, so segments are immutable
 * and CDN-cacheable for a year; /vod/{path}/… resolves a path on the first
 * request and points players at those hash-addressed URLs.
 */

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** Hash-addressed manifests change only with the server's config. */
const CONTENT_MANIFEST_TTL = 'public, max-age=300';
/** Path-addressed manifests follow the file behind the path, which may be replaced. */
const PATH_MANIFEST_TTL = 'public, max-age=10';

const HLS_TYPE = 'application/vnd.apple.mpegurl';
const LIBRARY_LIMIT = 500;

const require = createRequire(import.meta.url);
const UI_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ui');
const UI_FILES: Array<[route: string, file: string, type: string]> = [
  ['/', path.join(UI_DIR, 'index.html'), 'text/html; charset=utf-8'],
  ['/ui/app.js', path.join(UI_DIR, 'app.js'), 'text/javascript; charset=utf-8'],
  ['/ui/style.css', path.join(UI_DIR, 'style.css'), 'text/css; charset=utf-8'],
  ['/ui/vendor/hls.min.js', require.resolve('hls.js/dist/hls.min.js'), 'text/javascript; charset=utf-8'],
];
const uiFiles = new Map<string, Promise<CachedBody>>();
/** A UI file, read once. */
const uiFile = (file: string): Promise<CachedBody> => {
  let cached = uiFiles.get(file);
  if (!cached) uiFiles.set(file, (cached = readFile(file).then((body) => ({ body, etag: etagOf(body) }))));
  return cached;
};
const DASH_TYPE = 'application/dash+xml';

export interface AppDeps {
  library: MediaLibrary;
  origin: Origin;
  metrics: Metrics;
  prefetcher: Prefetcher;
  events: EventBus;
  sessions: SessionRegistry;
  logger: Logger;
  /** Seconds between SSE heartbeats (default 15). */
  heartbeatSeconds?: number;
  /** Checks signed URLs on content and /vod paths, and signs manifests' child URLs. */
  signer?: UrlSigner;
  /** Bearer token for the admin endpoints (content list and registration, system, metrics, signing). */
  adminToken?: string;
  /** What GET /api/v1/system reports. */
  system?: () => unknown;
  /** What GET /api/v1/health reports: the dashboard's numbers and alerts. */
  health?: () => unknown;
  /** Media files under the root, for the library page. */
  listMedia?: () => Promise<string[]>;
  /** Cached segments of a content, for the library page. */
  cachedSegments?: (hash: string) => number;
  /** Bytes of recently served segments kept in memory (the warm path). */
  memoryCacheBytes?: number;
  isReady?: () => boolean;
}

interface CachedBody {
  body: Uint8Array;
  etag: string;
}

const etagOf = (body: Uint8Array | string) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

function contentUrls(hash: string) {
  const base = `/api/v1/content/${hash}`;
  return { info: `${base}/info`, hls: `${base}/master.m3u8`, dash: `${base}/manifest.mpd` };
}

function corsHeaders(headers: Headers): void {
  headers.set('Access-Control-Allow-Origin', '*');
  headers.set('Access-Control-Expose-Headers', 'Content-Length, Content-Range, Accept-Ranges, ETag, Cache-Control, Date');
  headers.append('Vary', 'Origin');
}

/**
 * Who is playing, for prefetch: the player's own session id when it sends
 * one (AVPlayer: X-Playback-Session-Id), else its address and user agent.
 */
function clientOf(c: Context): string {
  const session = c.req.header('x-playback-session-id');
  if (session) return `session:${session.slice(0, 128)}`;
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  const address = c.req.header('x-forwarded-for')?.split(',')[0]?.trim() ?? incoming?.socket?.remoteAddress ?? '?';
  return `${address}|${(c.req.header('user-agent') ?? '').slice(0, 256)}`;
}

export function createApp(deps: AppDeps): Hono {
  const { library, origin } = deps;
  const hot = new LRUCache<string, CachedBody>({
    maxSize: deps.memoryCacheBytes ?? 256 * 1024 * 1024,
    sizeCalculation: (v) => Math.max(1, v.body.length),
  });
  const app = new Hono();

  // CORS on every response, errors and 206s included (players need it everywhere).
  app.use('*', async (c, next) => {
    if (c.req.method === 'OPTIONS') {
      const res = new Response(null, { status: 204 });
      corsHeaders(res.headers);
      res.headers.set('Access-Control-Allow-Methods', 'GET, HEAD, POST, OPTIONS');
      res.headers.set('Access-Control-Allow-Headers', c.req.header('Access-Control-Request-Headers') ?? 'Range, Content-Type');
      res.headers.set('Access-Control-Max-Age', '86400');
      return res;
    }
    await next();
    corsHeaders(c.res.headers);
  });
  // A request id for every request (the caller's X-Request-Id, or a new one), on its response and its log lines.
  const requestIds = new WeakMap<Request, string>();
  const requestOf = (c: Context) => requestIds.get(c.req.raw);
  const debug = deps.logger.isLevelEnabled('debug');
  app.use('*', async (c, next) => {
    const given = c.req.header('x-request-id');
    const id = given && /^[\w.:-]{1,64}$/.test(given) ? given : randomUUID();
    requestIds.set(c.req.raw, id);
    const started = performance.now();
    await next();
    c.res.headers.set('X-Request-Id', id);
    const status = c.res.status;
    // Warm requests are the hot path: a log line each only at debug level. Errors (5xx) have theirs from
    // errorResponse, with their reason.
    if (status < 500 && (status >= 400 || debug)) {
      deps.logger[status >= 400 ? 'warn' : 'debug']({ requestId: id, method: c.req.method, path: c.req.path, status, ms: Math.round(performance.now() - started) }, 'request');
    }
  });
  app.onError((err, c) => errorResponse(c, err, deps.logger.child({ requestId: requestOf(c) })));

  const { signer, adminToken } = deps;
  // Signed URLs: content and /vod paths need a valid signature for their scope (checked on the raw path).
  if (signer) {
    app.use('*', async (c, next) => {
      const scope = UrlSigner.scopeOf(new URL(c.req.url).pathname);
      if (scope) await signer.verify(scope, c.req.query('exp'), c.req.query('sig'));
      await next();
    });
  }
  /** The query that grants the children of this (verified) request: same expiry, the children's scope. */
  const childQuery = async (c: Context, hash: string): Promise<string> => {
    if (!signer) return '';
    return signer.query(UrlSigner.contentScope(hash), Number(c.req.query('exp')));
  };
  const admin = async (c: Context, next: () => Promise<void>) => {
    if (adminToken && !hasAdminToken(c.req.header('authorization'), adminToken)) {
      throw new ForbiddenError('this endpoint needs the admin token (Authorization: Bearer …)');
    }
    await next();
  };
  for (const path of ['/metrics', '/api/v1/system', '/api/v1/health', '/api/v1/library', '/api/v1/sign', '/api/v1/content', '/api/v1/sessions', '/api/v1/sessions/*', '/api/v1/events']) app.use(path, admin);

  // Server-Sent Events: the pipeline's events as they happen, filtered by content and type, with heartbeats.
  app.get('/api/v1/events', (c) => {
    const content = c.req.query('content');
    const types = c.req.query('type')?.split(',').filter(Boolean);
    if (types?.some((t) => !EVENT_TYPES.includes(t as PipelineEventType))) throw new InvalidRequestError(`type must be among ${EVENT_TYPES.join(', ')}`);
    const heartbeatMs = (deps.heartbeatSeconds ?? 15) * 1000;
    return streamSSE(c, async (stream) => {
      const queue: StampedEvent[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = deps.events.subscribe((event) => {
        if (content && ('content' in event ? event.content : undefined) !== content) return;
        if (types && !types.includes(event.type)) return;
        queue.push(event);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await stream.write(': connected\n\n');
      while (!stream.aborted) {
        const event = queue.shift();
        if (event) {
          await stream.writeSSE({ event: event.type, data: JSON.stringify(event) });
          continue;
        }
        const timedOut = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), heartbeatMs);
          wake = () => {
            clearTimeout(timer);
            resolve(false);
          };
        });
        wake = undefined;
        if (timedOut && !stream.aborted) await stream.write(': heartbeat\n\n');
      }
      unsubscribe();
    });
  });

  app.get('/api/v1/sessions', (c) => c.json({ sessions: deps.sessions.list() }));
  const session = (c: Context) => {
    const found = deps.sessions.get(c.req.param('id') ?? '');
    if (!found) throw new NotFoundError(`no session "${c.req.param('id')}"`);
    return found;
  };
  app.get('/api/v1/sessions/:id/status', (c) => c.json(session(c).status));
  app.get('/api/v1/sessions/:id/health', (c) => c.json({ ...session(c).status, ...session(c).health }));
  app.get('/api/v1/sessions/:id/logs', (c) => c.text(session(c).logs, 200, { 'Cache-Control': 'no-store' }));
  app.notFound((c) => c.json({ error: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` }, 404));

  app.get('/metrics', async (c) => c.body(await deps.metrics.text(), 200, { 'Content-Type': deps.metrics.contentType, 'Cache-Control': 'no-store' }));

  app.get('/api/v1/system', (c) => c.json(deps.system?.() ?? {}));

  // The web UI: plain files, hls.js from our own node_modules; nothing from the internet.
  for (const [route, file, type] of UI_FILES) {
    app.get(route, async (c) => sendBytes(c, { ...(await uiFile(file)), contentType: type, cacheControl: 'no-cache' }));
  }

  // The library page: every media file under the root, probed (at most LIBRARY_LIMIT, two at a time).
  app.get('/api/v1/library', async (c) => {
    const files = (await deps.listMedia?.()) ?? [];
    const items: unknown[] = new Array(Math.min(files.length, LIBRARY_LIMIT));
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        const file = files[i]!;
        try {
          const { metadata, plan } = await library.register(file);
          const total = plan.videoSegments.length * plan.renditions.length + plan.audio.reduce((sum, a) => sum + a.segments.length, 0);
          items[i] = {
            path: file,
            hash: metadata.hash,
            durationSeconds: metadata.durationSeconds,
            width: metadata.video.width,
            height: metadata.video.height,
            audio: plan.audio.map((a) => ({ language: a.language, name: a.name })),
            totalSegments: total,
            cachedSegments: deps.cachedSegments?.(metadata.hash) ?? 0,
          };
        } catch (err) {
          items[i] = { path: file, error: err instanceof Error ? err.message : String(err) };
        }
      }
    };
    await Promise.all([worker(), worker()]);
    return c.json({ items, ...(files.length > LIBRARY_LIMIT ? { truncated: files.length } : {}) }, 200, { 'Cache-Control': 'no-store' });
  });
  app.get('/api/v1/health', (c) => c.json(deps.health?.() ?? {}, 200, { 'Cache-Control': 'no-store' }));

  app.post('/api/v1/sign', async (c) => {
    if (!signer) throw new NotFoundError('URL signing is not enabled (--sign-key)');
    const body = (await c.req.json().catch(() => undefined)) as { path?: unknown; ttl?: unknown } | undefined;
    const target = typeof body?.path === 'string' ? body.path : undefined;
    const ttl = typeof body?.ttl === 'number' && body.ttl > 0 && body.ttl <= 7 * 86_400 ? Math.floor(body.ttl) : 3600;
    const scope = target && target.startsWith('/') ? UrlSigner.scopeOf(new URL(target, 'http://origin').pathname) : undefined;
    if (!target || !scope) throw new InvalidRequestError('body must be JSON: {"path": "/vod/…/master.m3u8" or "/api/v1/content/{hash}/…", "ttl": seconds}');
    const exp = Math.floor(Date.now() / 1000) + ttl;
    return c.json({ url: new URL(target, 'http://origin').pathname + (await signer.query(scope, exp)), expires: exp });
  });

  app.get('/healthz', (c) => (deps.isReady?.() === false ? c.json({ status: 'starting' }, 503) : c.json({ status: 'ok' })));

  app.get('/api/v1/content', async (c) => {
    const items = await library.list();
    return c.json({ items: items.map((m) => ({ ...m, urls: contentUrls(m.hash) })) });
  });

  // A registration is a path: a few hundred bytes. Anything far larger is refused before it is read.
  const smallBody = bodyLimit({
    maxSize: 16 * 1024,
    onError: () => {
      throw new PayloadTooLargeError('request body too large (limit 16 KiB)');
    },
  });

  app.post('/api/v1/content', smallBody, async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new InvalidRequestError('body must be JSON: {"path": "relative/path"}');
    }
    const relative = (body as { path?: unknown } | null)?.path;
    if (typeof relative !== 'string') throw new InvalidRequestError('body must be JSON: {"path": "relative/path"}');
    const content = await library.register(relative);
    return c.json({ ...content.metadata, urls: contentUrls(content.metadata.hash) }, 201);
  });

  const withContent = async (c: Context): Promise<Content> => library.get(c.req.param('hash') ?? '');

  app.get('/api/v1/content/:hash', async (c) => {
    const content = await withContent(c);
    return c.json({ ...content.metadata, urls: contentUrls(content.metadata.hash) });
  });

  app.get('/api/v1/content/:hash/info', async (c) => {
    const { metadata, plan } = await withContent(c);
    return c.json({
      ...metadata,
      urls: contentUrls(metadata.hash),
      segments: plan.videoSegments.length,
      segmentDurations: plan.videoSegments.map((s) => s.duration / plan.timescale),
      renditions: plan.renditions.map(({ id, name, width, height, bitrateKbps, codecs, peakBandwidth }) => ({ id, name, width, height, bitrateKbps, codecs, peakBandwidth })),
      audio: plan.audio.map(({ id, language, name, isDefault, codecs, bitrateKbps, segments }) => ({ id, language, name, isDefault, codecs, bitrateKbps, segments: segments.length })),
    });
  });

  // Manifests are pure functions of the plan: each is rendered (and its ETag hashed) once per plan and kept with it.
  const rendered = new WeakMap<Plan, Map<string, CachedBody>>();
  const manifest = (c: Context, { plan, metadata }: Content, key: string, render: () => string, contentType: string, cacheControl: string) => {
    if (signer) {
      // Signed child URLs differ per request: rendered each time (still a pure function of the plan).
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
      deps.events.emit({ type: 'ManifestUpdated', content: metadata.hash, manifest: contentType === DASH_TYPE ? 'dash' : 'hls', segments: plan.videoSegments.length });
    }
    return sendBytes(c, { ...cached, contentType, cacheControl });
  };

  app.get('/api/v1/content/:hash/master.m3u8', async (c) => {
    const content = await withContent(c);
    const { plan, metadata } = content;
    const query = await childQuery(c, metadata.hash);
    return manifest(c, content, 'master', () => multivariantPlaylist(plan, '', query), HLS_TYPE, CONTENT_MANIFEST_TTL);
  });
  app.get('/api/v1/content/:hash/manifest.mpd', async (c) => {
    const content = await withContent(c);
    const { plan, metadata } = content;
    const query = await childQuery(c, metadata.hash);
    return manifest(c, content, 'mpd', () => dashManifest(plan, '', query), DASH_TYPE, CONTENT_MANIFEST_TTL);
  });

  const mediaKind = (c: Context): MediaKind => {
    const kind = c.req.param('kind');
    if (kind !== 'video' && kind !== 'audio') throw new NotFoundError(`no media kind "${kind}"`);
    return kind;
  };

  app.get('/api/v1/content/:hash/:kind/:rendition/playlist.m3u8', async (c) => {
    const content = await withContent(c);
    const { plan, metadata } = content;
    const found = findRendition(plan, mediaKind(c), c.req.param('rendition'));
    const query = await childQuery(c, metadata.hash);
    // Every video rendition has the same playlist (one cut list); each audio rendition its own.
    return found.kind === 'video'
      ? manifest(c, content, 'video', () => videoMediaPlaylist(plan, query), HLS_TYPE, CONTENT_MANIFEST_TTL)
      : manifest(c, content, `audio/${found.rendition.id}`, () => audioMediaPlaylist(plan, found.rendition, query), HLS_TYPE, CONTENT_MANIFEST_TTL);
  });

  app.get('/api/v1/content/:hash/:kind/:rendition/:file', async (c) => {
    const started = performance.now();
    const content = await withContent(c);
    const kind = mediaKind(c);
    const renditionId = c.req.param('rendition');
    const file = c.req.param('file');
    const number: number | 'init' | undefined = file === 'init.mp4' ? 'init' : segmentNumberFromFileName(content.plan.segmentTemplate, file);
    if (number === undefined) throw new NotFoundError(`no segment "${file}"`);
    const request = { content, kind, renditionId, number };
    const key = `${content.metadata.hash}/${kind}/${renditionId}/${file}`;
    if (c.req.header(PEER_HEADER)) {
      // Another instance asking for what we have: the store only, no encode, no prefetch.
      const body = hot.get(key)?.body ?? (await origin.getStored(request));
      return sendBytes(c, { body, etag: etagOf(body), contentType: 'application/octet-stream', cacheControl: 'no-store' });
    }
    const segmentCount = segmentCountOf(content.plan, findRendition(content.plan, kind, renditionId));
    const client = clientOf(c);
    const prefetch = () => deps.prefetcher.onRequest({ client, content, kind, renditionId, number: number === 'init' ? 0 : number, segmentCount });
    let cached = hot.get(key);
    if (cached) {
      deps.metrics.hit('memory');
      deps.metrics.segmentLatency.observe({ path: 'warm' }, (performance.now() - started) / 1000);
      prefetch();
    } else {
      // Prefetch is set off once this request holds its place in the encode queue.
      const requestId = requestOf(c);
      const body = await origin.get(request, { onScheduled: prefetch, client, ...(requestId ? { requestId } : {}) });
      cached = { body, etag: etagOf(body) };
      hot.set(key, cached);
    }
    const next = number === 'init' ? 1 : number + 1;
    if (next <= segmentCount) {
      // Origin-assisted prefetch for CDNs: the next segment of this rendition.
      c.header('Link', `<${segmentFileName(content.plan.segmentTemplate, next)}${await childQuery(c, content.metadata.hash)}>; rel=preload; as=fetch; crossorigin`);
    }
    return sendBytes(c, { ...cached, contentType: kind === 'video' ? 'video/mp4' : 'audio/mp4', cacheControl: IMMUTABLE });
  });

  // /vod/{relative path}/master.m3u8 and …/manifest.mpd: no registration step.
  app.get('/vod/*', async (c) => {
    const rawParts = c.req.path.slice('/vod/'.length).split('/');
    const file = rawParts.pop();
    if (file !== 'master.m3u8' && file !== 'manifest.mpd') throw new NotFoundError('use /vod/{path}/master.m3u8 or /vod/{path}/manifest.mpd');
    let relative: string;
    try {
      relative = rawParts.map((p) => decodeURIComponent(p)).join('/');
    } catch {
      throw new InvalidRequestError('path is not valid percent-encoding');
    }
    const content = await library.register(relative);
    const { plan, metadata } = content;
    const prefix = `/api/v1/content/${metadata.hash}/`;
    const query = await childQuery(c, metadata.hash);
    return file === 'master.m3u8'
      ? manifest(c, content, `vod-master:${prefix}`, () => multivariantPlaylist(plan, prefix, query), HLS_TYPE, PATH_MANIFEST_TTL)
      : manifest(c, content, `vod-mpd:${prefix}`, () => dashManifest(plan, prefix, query), DASH_TYPE, PATH_MANIFEST_TTL);
  });

  return app;
}
