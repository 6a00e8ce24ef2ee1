import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { InvalidRequestError, NotFoundError, PayloadTooLargeError } from '../../errors.js';
import { hexToBase64url } from '../../package/drm/keys.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { KEYS_PATH } from '../middleware/key-sessions.js';
import { RateLimiter } from '../rate-limit.js';

/**
 * POST /api/v1/keys?content={hash}&exp=…&sig=…: the ClearKey license server
 * (W3C Encrypted Media Extensions §9.1.3). A license request
 * `{"kids": ["<base64url key id>", …], "type": "temporary"}` is answered with
 * the JWK set of the keys of that content among them:
 * `{"keys": [{"kty": "oct", "kid": "…", "k": "…"}], "type": "temporary"}`.
 * The guard (middleware/key-sessions.ts) has checked the signature for the
 * content before this runs. Key ids of another content are not answered (403).
 * GET with `kid={hex}` answers that key's 16 bytes (HLS identity keys).
 * Never cached (no-store), never logged, and limited per client address.
 */
export function keyRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { protector } = deps;
  const limiter = new RateLimiter(protector?.config.key_requests_per_minute ?? 60);
  const smallBody = bodyLimit({
    maxSize: 16 * 1024,
    onError: () => {
      throw new PayloadTooLargeError('a license request is a few hundred bytes (limit 16 KiB)');
    },
  });

  /** The content's keys, once the request is within its budget and the content is protected; else the refusal. */
  const keysOf = async (c: Context) => {
    c.header('Cache-Control', 'no-store');
    const allowed = limiter.take(addressOf(c));
    if (!allowed.allowed) {
      c.header('Retry-After', String(allowed.retryAfterSeconds));
      return c.json({ error: 'rate_limited', message: 'too many key requests from this address' }, 429);
    }
    const content = await deps.library.get(c.req.query('content') ?? '');
    if (!content.plan.protection || !protector) throw new NotFoundError('this content is not protected');
    return protector.keysFor(content.metadata.hash);
  };

  // HLS KEYFORMAT="identity" (Shaka Player's ClearKey in HLS): the raw 16-byte key of one key id of the content.
  app.get(KEYS_PATH, async (c) => {
    const keys = await keysOf(c);
    if (keys instanceof Response) return keys;
    const kid = c.req.query('kid') ?? '';
    const key = [keys.video, keys.audio].find((k) => k.kid === kid);
    if (!key) return c.json({ error: 'forbidden', message: 'this key id is not of this content' }, 403);
    return c.body(new Uint8Array(Buffer.from(key.key, 'hex')), 200, { 'Content-Type': 'application/octet-stream' });
  });

  app.post(KEYS_PATH, smallBody, async (c) => {
    const keys = await keysOf(c);
    if (keys instanceof Response) return keys;
    const wanted = await licenseRequestKids(c);
    const jwks = [keys.video, keys.audio]
      .map((k) => ({ kid: hexToBase64url(k.kid), k: hexToBase64url(k.key) }))
      .filter((k, i, all) => wanted.has(k.kid) && all.findIndex((o) => o.kid === k.kid) === i)
      .map(({ kid, k }) => ({ kty: 'oct', kid, k }));
    if (jwks.length === 0) return c.json({ error: 'forbidden', message: 'none of these key ids is of this content' }, 403);
    return c.json({ keys: jwks, type: 'temporary' });
  });
  return app;
}

/** The base64url key ids of a W3C ClearKey license request. */
async function licenseRequestKids(c: Context): Promise<Set<string>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch (err) {
    if (err instanceof SyntaxError) throw new InvalidRequestError('the license request is not JSON');
    throw err;
  }
  const kids = (body as { kids?: unknown })?.kids;
  if (!Array.isArray(kids) || kids.length === 0 || kids.length > 16 || !kids.every((k) => typeof k === 'string' && /^[A-Za-z0-9_-]{22}$/.test(k))) {
    throw new InvalidRequestError('expected {"kids": ["<base64url key id>", …]} (1-16 key ids)');
  }
  return new Set(kids as string[]);
}

/** The client's address (behind the edge, the first X-Forwarded-For entry): a session id header cannot reset its budget. */
function addressOf(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return c.req.header('x-forwarded-for')?.split(',')[0]?.trim() || incoming?.socket?.remoteAddress || '?';
}
