import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../observe/log.js';
import type { RequestIdVariables } from './request-id.js';

/**
 * One log line per refused request (4xx, at warn) and, at debug level, per
 * served one: warm requests are the hot path. 5xx have theirs from
 * errorResponse, with the reason. Runs inside requestId().
 */
export function accessLog(logger: Logger): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  const debug = logger.isLevelEnabled('debug');
  return async function accessLog(c, next) {
    const started = performance.now();
    await next();
    const status = c.res.status;
    if (status < 500 && (status >= 400 || debug)) {
      logger[status >= 400 ? 'warn' : 'debug']({ requestId: c.get('requestId'), method: c.req.method, path: c.req.path, status, ms: Math.round(performance.now() - started) }, 'request');
    }
  };
}
