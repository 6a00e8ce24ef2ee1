import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { ForbiddenError, InvalidRequestError, NotFoundError, PayloadTooLargeError } from '../../errors.js';
import { contentUrls } from '../body-cache.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { publicMessage } from '../errors.js';
import { routedPathOf, UrlSigner } from '../signing.js';

const LIBRARY_LIMIT = 500;
const MAX_SIGN_TTL_SECONDS = 7 * 86_400;

/**
 * The operator's endpoints: content list and registration, the library
 * page, sessions, metrics, system and health, URL signing. With an admin
 * token each needs it (the adminAuth middleware, deny by default).
 */
export function adminRoutes(deps: AppDeps): Hono<AppEnv> {
  const { library, signer } = deps;
  const app = new Hono<AppEnv>();

  app.get('/metrics', async (c) => c.body(await deps.metrics.text(), 200, { 'Content-Type': deps.metrics.contentType, 'Cache-Control': 'no-store' }));
  app.get('/api/v1/system', (c) => c.json(deps.system?.() ?? {}));
  app.get('/api/v1/health', (c) => c.json(deps.health?.() ?? {}, 200, { 'Cache-Control': 'no-store' }));

  app.get('/api/v1/sessions', (c) => c.json({ sessions: deps.sessions.list() }));
  const session = (c: Context) => {
    const found = deps.sessions.get(c.req.param('id') ?? '');
    if (!found) throw new NotFoundError(`no session "${c.req.param('id')}"`);
    return found;
  };
  app.get('/api/v1/sessions/:id/status', (c) => c.json(session(c).status));
  app.get('/api/v1/sessions/:id/health', (c) => c.json({ ...session(c).status, ...session(c).health }));
  app.get('/api/v1/sessions/:id/logs', (c) => c.text(session(c).logs, 200, { 'Cache-Control': 'no-store' }));

  app.get('/api/v1/library', async (c) => c.json(await libraryPage(deps), 200, { 'Cache-Control': 'no-store' }));

  app.post('/api/v1/sign', async (c) => {
    if (!signer) throw new NotFoundError('URL signing is not enabled (--sign-key)');
    // Without the admin token this would mint a signature for anyone, for anything: signing would guard nothing.
    if (!deps.adminToken) throw new ForbiddenError('signing URLs needs the admin token: start the origin with --admin-token');
    const body = (await c.req.json().catch(() => undefined)) as { path?: unknown; ttl?: unknown } | undefined;
    const target = typeof body?.path === 'string' && body.path.startsWith('/') ? body.path : undefined;
    const ttl = typeof body?.ttl === 'number' && body.ttl > 0 && body.ttl <= MAX_SIGN_TTL_SECONDS ? Math.floor(body.ttl) : 3600;
    // The scope of the path the server will route the URL to: what the guard checks.
    const routed = target ? routedPathOf(target) : undefined;
    const scope = routed ? UrlSigner.scopeOf(routed) : undefined;
    if (!target || !scope) throw new InvalidRequestError('body must be JSON: {"path": "/vod/{path}/master.m3u8" or "/api/v1/content/{hash}/…", "ttl": seconds}');
    const exp = Math.floor(Date.now() / 1000) + ttl;
    return c.json({ url: new URL(target, 'http://origin').pathname + (await signer.query(scope, exp)), expires: exp });
  });

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
    const body: unknown = await c.req.json().catch((err: unknown) => {
      if (err instanceof SyntaxError) return undefined;
      throw err;
    });
    const relative = (body as { path?: unknown } | null | undefined)?.path;
    if (typeof relative !== 'string') throw new InvalidRequestError('body must be JSON: {"path": "relative/path"}');
    const content = await library.register(relative);
    return c.json({ ...content.metadata, urls: contentUrls(content.metadata.hash) }, 201);
  });

  return app;
}

/** Every media file under the root, probed (at most LIBRARY_LIMIT, two at a time); a file that fails shows its public reason. */
async function libraryPage(deps: AppDeps) {
  const files = (await deps.listMedia?.()) ?? [];
  const items: unknown[] = new Array(Math.min(files.length, LIBRARY_LIMIT));
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      const file = files[i]!;
      try {
        const { metadata, plan } = await deps.library.register(file);
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
        // One bad file is an item with its reason, not a failed page; the reason never carries a local path.
        items[i] = { path: file, error: publicMessage(err) };
      }
    }
  };
  await Promise.all([worker(), worker()]);
  return { items, ...(files.length > LIBRARY_LIMIT ? { truncated: files.length } : {}) };
}
