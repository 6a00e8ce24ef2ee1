import type { MiddlewareHandler } from 'hono';

/**
 * CORS for players on other origins, on every response (errors, 206s and
 * streams included, so the headers are set after the handler, on whatever
 * response it or onError made), and preflight answered here. Hono's own
 * cors() sets its headers before the handler runs; ours must also reach
 * responses built later, hence this small one.
 */
export interface CorsOptions {
  /** Response headers a player's script may read. */
  exposeHeaders: string[];
}

const ALLOW_METHODS = 'GET, HEAD, POST, OPTIONS';

export function cors(options: CorsOptions): MiddlewareHandler {
  const [allowOrigin, expose] = corsHeaders(options) as [[string, string], [string, string]];
  const set = (headers: Headers) => {
    headers.set(...allowOrigin);
    headers.set(...expose);
    if (!/(^|,)\s*origin\s*(,|$)/i.test(headers.get('Vary') ?? '')) headers.append('Vary', 'Origin');
  };
  return async function cors(c, next) {
    if (c.req.method === 'OPTIONS') {
      const preflight = new Response(null, { status: 204 });
      set(preflight.headers);
      preflight.headers.set('Access-Control-Allow-Methods', ALLOW_METHODS);
      preflight.headers.set('Access-Control-Allow-Headers', c.req.header('Access-Control-Request-Headers') ?? 'Range, Content-Type');
      preflight.headers.set('Access-Control-Max-Age', '86400');
      return preflight;
    }
    await next();
    set(c.res.headers);
  };
}

/** What the origin lets players read. */
export const ORIGIN_EXPOSED_HEADERS = ['Content-Length', 'Content-Range', 'Accept-Ranges', 'ETag', 'Cache-Control', 'Date', 'X-Request-Id'];

/** The headers cors() gives a response that has no Vary of its own (the warm-segment front writes these). */
export function corsHeaders(options: CorsOptions): [string, string][] {
  return [
    ['Access-Control-Allow-Origin', '*'],
    ['Access-Control-Expose-Headers', options.exposeHeaders.join(', ')],
    ['Vary', 'Origin'],
  ];
}
