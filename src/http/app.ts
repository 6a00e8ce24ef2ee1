import { Hono } from 'hono';
import type { AppDeps, AppEnv } from './deps.js';
import { errorResponse } from './errors.js';
import { accessLog } from './middleware/access-log.js';
import { adminAuth } from './middleware/admin-auth.js';
import { cors, ORIGIN_EXPOSED_HEADERS } from './middleware/cors.js';
import { requestId } from './middleware/request-id.js';
import { signedUrls } from './middleware/signed-urls.js';
import { keySessions } from './middleware/key-sessions.js';
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
 */

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Order matters: CORS and the request id wrap everything, refusals included.
  app.use('*', cors({ exposeHeaders: ORIGIN_EXPOSED_HEADERS }));
  app.use('*', requestId());
  app.use('*', accessLog(deps.logger));
  if (deps.signer) app.use('*', signedUrls(deps.signer));
  app.use('*', keySessions(deps.signer));
  if (deps.adminToken) app.use('*', adminAuth(deps.adminToken));
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
  app.route('/', contentRoutes(deps, manifest));
  app.route('/', vodRoutes(deps, manifest));
  app.route('/', keyRoutes(deps));
  return app;
}
