import type { Context } from 'hono';

/**
 * Answers a GET/HEAD for a complete, immutable body with the HTTP caching
 * semantics CDNs and players rely on: ETag/If-None-Match (304), single byte
 * ranges (206/416) and an exact Content-Length.
 */
export interface BytesResponse {
  body: Uint8Array;
  contentType: string;
  etag: string;
  cacheControl: string;
}

type ByteRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/** Parses a single-range "bytes=" header; multiple ranges are answered with the whole body, as RFC 9110 allows. */
export function parseRange(header: string | undefined, size: number): ByteRange {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header === '*' || header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

export function sendBytes(c: Context, response: BytesResponse): Response {
  const { body, contentType, etag, cacheControl } = response;
  c.header('ETag', etag);
  c.header('Cache-Control', cacheControl);
  c.header('Accept-Ranges', 'bytes');
  c.header('Content-Type', contentType);
  if (etagMatches(c.req.header('If-None-Match'), etag)) return c.body(null, 304);
  const range = parseRange(c.req.header('Range'), body.length);
  if (range === 'unsatisfiable') {
    c.header('Content-Range', `bytes */${body.length}`);
    return c.json({ error: 'range_not_satisfiable', message: `the body is ${body.length} bytes` }, 416);
  }
  if (range) {
    const part = body.subarray(range.start, range.end + 1);
    c.header('Content-Range', `bytes ${range.start}-${range.end}/${body.length}`);
    c.header('Content-Length', String(part.length));
    return c.body(part as Uint8Array<ArrayBuffer>, 206);
  }
  c.header('Content-Length', String(body.length));
  return c.body(body as Uint8Array<ArrayBuffer>, 200);
}
