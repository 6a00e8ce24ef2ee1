import { Hono } from 'hono';
import type { AppDeps, AppEnv } from './deps.js';
import { errorResponse } from './errors.js';
import { accessLog } from './middleware/access-log.js';
import { cors, ORIGIN_EXPOSED_HEADERS } from './middleware/cors.js';
import { requestId } from './middleware/request-id.js';
import { guardMiddleware, originGuards } from './guards.js';
import { segmentFront, type FrontHandler } from './segment-front.js';
import { WarmSegments } from './warm-segments.js';
import { manifestResponder } from './manifests.js';
import { adminRoutes } from './routes/admin.js';
import { contentRoutes } from './routes/content.js';
import { eventRoutes } from './routes/events.js';
import { keyRoutes } from './routes/keys.js';
import { subtitleRoutes } from './routes/subtitles.js';
import { thumbnailRoutes } from './routes/thumbnails.js';
import { uiRoutes } from './routes/ui.js';
import { vodRoutes } from './routes/vod.js';

export type { AppDeps } from './deps.js';

/**
 * The REST API on Hono: cross-cutting middleware first (CORS, request id,
 * access log, the signing and admin guards, each deny by default), then the
 * sub-apps. Everything under /api/v1/content/{hash}/ is addressed by
 * content, so segments are immutable and CDN-cacheable for a year;
 * /vod/{path}/… resolves a path on the first request and points players at
 * those hash-addressed URLs.
 *
 * Returns the app, and the warm-segment front to put before it on a Node server
 * (listen.ts): both answer segments from one memory cache and run one list
 * of guards. No front with debug logging on (the app's access log then
 * writes a line per served request).
 */
export function createHttp(deps: AppDeps): { app: Hono<AppEnv>; front: FrontHandler | undefined } {
  const app = new Hono<AppEnv>();
  const corsOptions = { exposeHeaders: ORIGIN_EXPOSED_HEADERS };
  const guards = originGuards(deps);
  const warm = new WarmSegments(deps.metrics, deps.prefetcher, deps.memoryCacheBytes ?? 256 * 1024 * 1024);
  // Order matters: CORS and the request id wrap everything, refusals included.
  app.use('*', cors(corsOptions));
  app.use('*', requestId());
  app.use('*', accessLog(deps.logger));
  for (const guard of guards) app.use('*', guardMiddleware(guard));
  app.onError((err, c) => errorResponse(c, err, deps.logger.child({ requestId: c.get('requestId') })));
  app.notFound((c) => c.json({ error: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` }, 404));

  app.get('/healthz', (c) => (deps.isReady?.() === false ? c.json({ status: 'starting' }, 503) : c.json({ status: 'ok' })));
  const manifest = manifestResponder(deps.events, deps.signer);
  app.route('/', uiRoutes());
  app.route('/', eventRoutes(deps));
  app.route('/', adminRoutes(deps));
  // Before the content routes: their /:kind/:rendition/:file would take thumbs/{track}/….
  if (deps.thumbnails) app.route('/', thumbnailRoutes(deps, deps.thumbnails));
  if (deps.subtitles) app.route('/', subtitleRoutes(deps, deps.subtitles, manifest));
  app.route('/', contentRoutes(deps, manifest, warm));
  app.route('/', vodRoutes(deps, manifest));
  app.route('/', keyRoutes(deps));
  const front = deps.logger.isLevelEnabled('debug') ? undefined : segmentFront({ library: deps.library, origin: deps.origin, warm, guards, cors: corsOptions });
  return { app, front };
}
