import type { Context } from 'hono';

/**
 * Answers a GET/HEAD for a complete, immutable body with the HTTP caching
 * semantics CDNs and players rely on: ETag/If-None-Match (304), single byte
 * ranges (206/416) and an exact Content-Length. The answer is decided once
 * (answerBytes) and written either through Hono (sendBytes) or straight to
 * Node's response by the warm-segment front (http/segment-front.ts), so both
 * give the same status and headers.
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

export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header === '*' || header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/** What to answer: a status, the headers beside the entity's own, and the bytes (none for 304 and 416). */
export interface BytesAnswer {
  status: 200 | 206 | 304 | 416;
  /** Content-Range (206, 416) and Content-Length (200, 206). */
  contentRange?: string;
  contentLength?: string;
  body?: Uint8Array;
}

export function answerBytes(body: Uint8Array, etag: string, ifNoneMatch: string | undefined, rangeHeader: string | undefined): BytesAnswer {
  if (etagMatches(ifNoneMatch, etag)) return { status: 304 };
  const range = parseRange(rangeHeader, body.length);
  if (range === 'unsatisfiable') return { status: 416, contentRange: `bytes */${body.length}` };
  if (range) {
    const part = body.subarray(range.start, range.end + 1);
    return { status: 206, contentRange: `bytes ${range.start}-${range.end}/${body.length}`, contentLength: String(part.length), body: part };
  }
  return { status: 200, contentLength: String(body.length), body };
}

export function sendBytes(c: Context, response: BytesResponse): Response {
  const { body, contentType, etag, cacheControl } = response;
  c.header('ETag', etag);
  c.header('Cache-Control', cacheControl);
  c.header('Accept-Ranges', 'bytes');
  c.header('Content-Type', contentType);
  const answer = answerBytes(body, etag, c.req.header('If-None-Match'), c.req.header('Range'));
  if (answer.contentRange) c.header('Content-Range', answer.contentRange);
  if (answer.status === 304) return c.body(null, 304);
  if (answer.status === 416) return c.json({ error: 'range_not_satisfiable', message: `the body is ${body.length} bytes` }, 416);
  c.header('Content-Length', answer.contentLength);
  return c.body(answer.body as Uint8Array<ArrayBuffer>, answer.status);
}
