import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { BadGatewayError, EncodeError, ForbiddenError, InvalidRequestError, NotFoundError, PayloadTooLargeError, ServiceUnavailableError, UnsupportedMediaError } from '../errors.js';
import { ProbeError } from '../probe/errors.js';
import type { Logger } from '../observe/log.js';

/**
 * The one mapping from errors to HTTP responses, for the origin and the
 * edge. Every error body is JSON with a reason, and no reason names a file
 * on this machine. Web-standard only (the edge worker bundles it).
 */

/** A full, read-only, failing or exhausted disk or file table: the origin cannot store now, and may later. */
const STORAGE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM']);
const STORAGE_RETRY_AFTER_SECONDS = 10;

/** The storage error code of `err` or of an error it wraps (cause), if any. */
function storageCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && STORAGE_CODES.has(code)) return code;
  }
  return undefined;
}

export function errorStatus(err: unknown): { status: ContentfulStatusCode; code: string; retryAfterSeconds?: number } {
  if (err instanceof NotFoundError) return { status: 404, code: 'not_found' };
  if (err instanceof InvalidRequestError) return { status: 400, code: 'bad_request' };
  if (err instanceof ForbiddenError) return { status: 403, code: 'forbidden' };
  if (err instanceof PayloadTooLargeError) return { status: 413, code: 'payload_too_large' };
  if (err instanceof ServiceUnavailableError) return { status: 503, code: 'unavailable', retryAfterSeconds: err.retryAfterSeconds };
  // Before the content errors: a probe or encode that failed because the disk did is not the file's fault.
  if (storageCode(err)) return { status: 503, code: 'storage_unavailable', retryAfterSeconds: STORAGE_RETRY_AFTER_SECONDS };
  if (err instanceof ProbeError || err instanceof UnsupportedMediaError) return { status: 415, code: 'unsupported_media' };
  if (err instanceof EncodeError) return { status: 502, code: 'encode_failed' };
  if (err instanceof BadGatewayError) return { status: 502, code: 'origin_unavailable' };
  // By name: config.ts reads files, and this module is also bundled into the edge worker (Web APIs only).
  if (err instanceof Error && err.name === 'ConfigError') return { status: 500, code: 'config_error' };
  return { status: 500, code: 'internal_error' };
}

/** What a client may read of an error: its reason, with local paths cut to their file names. */
export function publicMessage(err: unknown): string {
  const code = storageCode(err);
  if (code) return `the origin cannot store data now (${code}); retry later`;
  return withoutLocalPaths(err instanceof ProbeError ? err.reason : err instanceof Error ? err.message : String(err));
}

export function errorResponse(c: Context, err: unknown, log?: Logger): Response {
  const { status, code, retryAfterSeconds } = errorStatus(err);
  const message = publicMessage(err);
  // The log keeps the full message (paths included): it is for the operator.
  if (status >= 500) log?.error({ method: c.req.method, path: c.req.path, status, err: err instanceof Error ? err.message : String(err) }, 'request failed');
  c.header('Cache-Control', 'no-store');
  // The unread rest of an oversized body must not be taken for the next request on this connection.
  if (err instanceof PayloadTooLargeError) c.header('Connection', 'close');
  if (retryAfterSeconds !== undefined) c.header('Retry-After', String(Math.max(1, Math.ceil(retryAfterSeconds))));
  return c.json({ error: code, message }, status);
}

/**
 * Tool messages name files on this machine (`/srv/media/a b/x.mkv: Invalid
 * data`, `file:/tmp/…`); a client needs their names at most. An absolute
 * path runs from a `/` at a word start to the `:` + space, quote or line end
 * that tools put after it, so names with spaces are cut whole.
 */
export function withoutLocalPaths(message: string): string {
  return message.replace(/(?<![\w.~{}:/-])(?:file:)?\/[^\s'"`:/{}]+(?:\/[^'"`:/{}\n]*?)+(?=$|[:'"`\n,;)]|\s(?:\W|$))/gm, (p) => {
    const name = p.replace(/\/+$/, '');
    return name.slice(name.lastIndexOf('/') + 1) || '…';
  });
}
