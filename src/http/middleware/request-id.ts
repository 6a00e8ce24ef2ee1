import type { MiddlewareHandler } from 'hono';

/** The context variable the request id is kept in (c.get('requestId')). */
export type RequestIdVariables = { requestId: string };

const VALID_ID = /^[\w.:-]{1,64}$/;

/**
 * A request id for every request: the caller's X-Request-Id when it is a
 * sane token (the edge passes its own on, so one id follows a request from
 * the edge to the origin), else a new UUID. It is in c.get('requestId') for
 * log lines and on the response. Web Crypto only: the edge on Workers uses
 * this same module.
 */
export function requestId(): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  return async function requestId(c, next) {
    const id = requestIdFor(c.req.header('x-request-id'));
    c.set('requestId', id);
    await next();
    c.res.headers.set('X-Request-Id', id);
  };
}

/** The caller's id when it is a sane token, else a new one (also used by the warm-segment front). */
export function requestIdFor(given: string | undefined): string {
  return given && VALID_ID.test(given) ? given : crypto.randomUUID();
}
