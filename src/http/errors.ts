import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ConfigError } from '../config/config.js';
import { EncodeError, ForbiddenError, InvalidRequestError, NotFoundError, PayloadTooLargeError, ServiceUnavailableError, UnsupportedMediaError } from '../errors.js';
import { ProbeError } from '../probe/errors.js';
import type { Logger } from '../observe/log.js';

/** The one mapping from pipeline errors to HTTP statuses; every error body is JSON with a reason. */
export function errorStatus(err: unknown): { status: ContentfulStatusCode; code: string } {
  if (err instanceof NotFoundError) return { status: 404, code: 'not_found' };
  if (err instanceof InvalidRequestError) return { status: 400, code: 'bad_request' };
  if (err instanceof ProbeError || err instanceof UnsupportedMediaError) return { status: 415, code: 'unsupported_media' };
  if (err instanceof EncodeError) return { status: 502, code: 'encode_failed' };
  if (err instanceof ServiceUnavailableError) return { status: 503, code: 'unavailable' };
  if (err instanceof ForbiddenError) return { status: 403, code: 'forbidden' };
  if (err instanceof PayloadTooLargeError) return { status: 413, code: 'payload_too_large' };
  if (err instanceof ConfigError) return { status: 500, code: 'config_error' };
  return { status: 500, code: 'internal_error' };
}

export function errorResponse(c: Context, err: unknown, log?: Logger): Response {
  const { status, code } = errorStatus(err);
  const message = withoutLocalPaths(err instanceof ProbeError ? err.reason : err instanceof Error ? err.message : String(err));
  if (status >= 500) log?.error({ method: c.req.method, path: c.req.path, status, err: message }, 'request failed');
  c.header('Cache-Control', 'no-store');
  // The unread rest of an oversized body must not be taken for the next request on this connection.
  if (err instanceof PayloadTooLargeError) c.header('Connection', 'close');
  if (err instanceof ServiceUnavailableError) c.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterSeconds))));
  return c.json({ error: code, message }, status);
}

/** Tool messages name files on this machine; a client needs their names at most. */
function withoutLocalPaths(message: string): string {
  return message.replace(/(?:\/[\w.@%+=-]+){2,}/g, (p) => p.slice(p.lastIndexOf('/') + 1));
}
