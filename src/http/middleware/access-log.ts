import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../observe/log.js';
import { clientOf } from '../client.js';
import type { RequestIdVariables } from './request-id.js';

/**
 * One log line per refused request (4xx, at warn) and, at debug level, per
 * served one: warm requests are the hot path. 5xx have theirs from
 * errorResponse, with the reason. Each names the client (the player's
 * session, or address and user agent) and the X-Forwarded-For chain.
 * Runs inside requestId().
 */
export function accessLog(logger: Logger): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  const debug = logger.isLevelEnabled('debug');
  return async function accessLog(c, next) {
    const started = performance.now();
    await next();
    const status = c.res.status;
    if (status < 500 && (status >= 400 || debug)) {
      // Who asked, as the origin sees it: behind the edge, the viewer's forwarded address chain and session.
      const forwardedFor = c.req.header('x-forwarded-for');
      logger[status >= 400 ? 'warn' : 'debug'](
        { requestId: c.get('requestId'), method: c.req.method, path: c.req.path, status, ms: Math.round(performance.now() - started), client: clientOf(c), ...(forwardedFor ? { forwardedFor } : {}) },
        'request',
      );
    }
  };
}
