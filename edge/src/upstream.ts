import { BadGatewayError } from '../../src/errors.js';
import type { CachedResponse } from './cache.js';
import type { OriginPool } from './origins.js';

/**
 * Requests from the edge to its origins, in the two shapes the edge needs:
 *
 * - `buffered`: a whole body, for what the edge caches (segments,
 *   manifests); the timeout covers the body too;
 * - `streamed`: the origin's body passed on as it arrives (SSE, the UI,
 *   JSON APIs); the timeout covers only the wait for the response head, and
 *   the viewer leaving cancels the origin request (before the origin
 *   answers through the request's signal, after it by cancelling the body).
 *
 * Both fail over to the next origin on a network error, a timeout or a 5xx
 * before the origin has answered, and mark origins healthy or not by that.
 * Once an origin has answered, what happens to the body (a long SSE stream,
 * a viewer who leaves) says nothing about the origin's health.
 */

export interface Fetched {
  status: number;
  entry: CachedResponse;
  origin: string;
}

export interface Streamed {
  response: Response;
  origin: string;
}

export interface UpstreamRequest {
  method?: string;
  headers: Headers;
  body?: ArrayBuffer;
  /** The viewer's request signal: when it aborts, so does the origin request. */
  signal?: AbortSignal;
}

/** Response headers the edge keeps from the origin for what it caches. */
const KEPT_HEADERS = ['content-type', 'cache-control', 'etag', 'last-modified', 'link', 'vary', 'retry-after'];
/** Response headers passed on with a streamed body. */
const STREAMED_HEADERS = [...KEPT_HEADERS, 'content-length', 'content-range', 'accept-ranges', 'www-authenticate', 'location'];

export class Upstream {
  constructor(
    private readonly pool: OriginPool,
    private readonly fetchImpl: typeof fetch,
    private readonly timeoutMs: number,
  ) {}

  /** GET `target` (path and query) from the best origin for `routingKey`, body and all. */
  async buffered(routingKey: string, target: string, headers: Headers): Promise<Fetched> {
    const order = this.pool.order(routingKey);
    let lastError: unknown;
    for (const origin of order) {
      try {
        const response = await this.fetchImpl(`${origin}${target}`, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
        const body = await response.arrayBuffer();
        const fetched = { status: response.status, entry: { body, headers: pick(response.headers, KEPT_HEADERS) }, origin };
        if (response.status < 500) {
          this.pool.mark(origin, true);
          return fetched;
        }
        lastError = new BadGatewayError(`${origin} answered ${response.status}`);
        // A 503 is an origin shedding load (healthy, busy); other 5xx count against it.
        if (response.status !== 503) this.pool.mark(origin, false);
        // The last origin's answer (e.g. a 503 with Retry-After) is better than none.
        if (origin === order.at(-1)) return fetched;
      } catch (err) {
        lastError = err;
        this.pool.mark(origin, false);
      }
    }
    throw new BadGatewayError(`no origin could answer: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
  }

  /** `target` from the best origin for `routingKey`, its body streamed through. */
  async streamed(routingKey: string, target: string, request: UpstreamRequest): Promise<Streamed> {
    const order = this.pool.order(routingKey);
    let lastError: unknown;
    for (const origin of order) {
      const controller = new AbortController();
      const viewerLeft = () => controller.abort(request.signal?.reason);
      request.signal?.addEventListener('abort', viewerLeft, { once: true });
      const timer = setTimeout(() => controller.abort(new Error(`${origin} did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      try {
        const response = await this.fetchImpl(`${origin}${target}`, {
          method: request.method ?? 'GET',
          headers: request.headers,
          ...(request.body ? { body: request.body } : {}),
          signal: controller.signal,
          redirect: 'manual',
        });
        clearTimeout(timer);
        // From here the body is the runtime's to cancel when the viewer leaves (that cancels the origin request too).
        request.signal?.removeEventListener('abort', viewerLeft);
        if (response.status < 500 || origin === order.at(-1)) {
          if (response.status < 500) this.pool.mark(origin, true);
          return { response: passOn(response), origin };
        }
        await response.body?.cancel();
        lastError = new BadGatewayError(`${origin} answered ${response.status}`);
        if (response.status !== 503) this.pool.mark(origin, false);
      } catch (err) {
        clearTimeout(timer);
        request.signal?.removeEventListener('abort', viewerLeft);
        // The viewer went away before the origin answered: nothing to say about the origin.
        if (request.signal?.aborted) throw err;
        lastError = err;
        this.pool.mark(origin, false);
      }
    }
    throw new BadGatewayError(`no origin could answer: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
  }
}

/** Statuses a Response may not carry a body with. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

function pick(headers: Headers, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = headers.get(name);
    if (value) out[name] = value;
  }
  return out;
}

/** The origin's response as the edge's own: its status, the headers worth passing on, its body as a stream. */
function passOn(response: Response): Response {
  const headers = new Headers(pick(response.headers, STREAMED_HEADERS));
  // fetch has already decoded a compressed body: its length is not the origin's Content-Length.
  if (response.headers.get('content-encoding')) headers.delete('content-length');
  const bodiless = NULL_BODY_STATUSES.has(response.status);
  return new Response(bodiless ? null : response.body, { status: response.status, headers });
}
