import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { getQueryParam } from 'hono/utils/url';
import type { Origin } from '../origin.js';
import type { MediaLibrary } from '../library/media-library.js';
import type { MediaKind } from '../store/content-store.js';
import { PEER_HEADER } from '../coordinate/peer.js';
import { clientFrom } from './client.js';
import { PREFETCH_HEADER } from './headers.js';
import { corsHeaders, type CorsOptions } from './middleware/cors.js';
import { requestIdFor } from './middleware/request-id.js';
import type { GuardedRequest, RequestGuard } from './guards.js';
import { mediaType, segmentCacheControl } from './routes/content.js';
import { answerBytes } from './serve-bytes.js';
import { WarmSegments } from './warm-segments.js';

/**
 * The warm path in front of Hono: a GET or HEAD of a segment or init segment
 * that is in memory is answered straight on Node's response, with the least
 * work a correct answer needs: one regex over the request target, the
 * content lookup the route makes (a content whose file changed is gone), the
 * same guards the app runs (signing, the key and admin guards: guards.ts),
 * the same answer (serve-bytes.ts answerBytes: ETag/304, Range/206) and the
 * same headers (CORS, X-Request-Id, Cache-Control, Link). The hit's books are
 * kept after the response (warm-segments.ts).
 *
 * Everything else goes to the app (`next`), untouched: another method, a
 * target that is not exactly /api/v1/content/{hash}/{kind}/{rendition}/{file}
 * spelled plainly (no escapes, dot segments or absolute form: then the raw
 * target is the path Hono would route on, and the guards check that path),
 * a Host the adapter would rewrite, a peer's or the edge's prefetch request,
 * a miss, a refusal by a guard (the app refuses it again, with its error
 * body and log line), a 416. With debug logging on, every request goes to the
 * app, whose access log writes a line per served request.
 */
export type FrontHandler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

export interface SegmentFrontDeps {
  library: MediaLibrary;
  origin: Pick<Origin, 'isDegraded'>;
  warm: WarmSegments;
  guards: readonly RequestGuard[];
  cors: CorsOptions;
}

const PREFIX = '/api/v1/content/';
const SEGMENT_TARGET = /^\/api\/v1\/content\/([0-9a-f]{64})\/(video|audio)\/([A-Za-z0-9_-]+)\/([A-Za-z0-9_-]+\.(?:m4s|mp4))(?:\?[A-Za-z0-9_.~=&-]*)?$/;
/** @hono/node-server keeps a request's URL as it came only with a Host of this form (its reValidHost). */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;

export function segmentFront({ library, origin, warm, guards, cors }: SegmentFrontDeps): FrontHandler {
  // Lower-case names, as the app's responses have them (Headers objects lower-case them).
  const corsPairs = corsHeaders(cors).flatMap(([name, value]) => [name.toLowerCase(), value]);
  // No closures made per request: under tsx (npm start) each one also costs a __name() call.
  const serve = async (req: IncomingMessage, res: ServerResponse, next: () => void, target: RegExpExecArray): Promise<void> => {
    try {
      const started = performance.now();
      const [url, hash, kindName, renditionId] = target as unknown as [string, string, MediaKind, string];
      const request = new NodeRequest(url, req.headers);
      const entry = warm.hot.get(request.path.slice(PREFIX.length));
      if (!entry) return next();
      for (const guard of guards) {
        const pending = guard(request);
        if (pending) await pending;
      }
      // A content whose file changed or went is gone: the app says so.
      const content = await library.get(hash);
      const answer = answerBytes(entry.body, entry.etag, request.header('if-none-match'), request.header('range'));
      if (answer.status === 416) return next();
      const out = [
        ...corsPairs,
        'x-request-id', requestIdFor(request.header('x-request-id')),
        'etag', entry.etag,
        'cache-control', segmentCacheControl(origin, entry.body),
        'accept-ranges', 'bytes',
        'content-type', mediaType(kindName),
      ];
      if (entry.link) out.push('link', entry.link);
      if (answer.contentRange) out.push('content-range', answer.contentRange);
      if (answer.contentLength) out.push('content-length', answer.contentLength);
      res.writeHead(answer.status, out);
      res.end(req.method === 'HEAD' ? undefined : answer.body);
      const client = clientFrom(request.header('x-playback-session-id'), request.header('x-forwarded-for'), request.header('user-agent'), req.socket.remoteAddress);
      warm.noteHit({ client, content, kind: kindName, renditionId, number: entry.number, segmentCount: entry.segmentCount, seconds: (performance.now() - started) / 1000 });
    } catch (err) {
      // A refusal or a lookup that failed: the app answers it (and says why) as it answers any request.
      if (!res.headersSent) return next();
      console.error('[jitseg] warm segment response failed after its headers', err);
      res.destroy();
    }
  };
  return (req, res, next) => {
    const target = req.method === 'GET' || req.method === 'HEAD' ? SEGMENT_TARGET.exec(req.url ?? '') : null;
    const headers = req.headers;
    if (!target || !PLAIN_HOST.test(headers.host ?? '') || headers[PEER_HEADER] !== undefined || headers[PREFETCH_HEADER] !== undefined) return next();
    void serve(req, res, next, target);
  };
}

/** What the guards read of a request the front answers: its target is the path Hono would route on (see above). */
class NodeRequest implements GuardedRequest {
  readonly path: string;
  private readonly queryAt: number;

  constructor(
    private readonly url: string,
    private readonly headers: IncomingHttpHeaders,
  ) {
    this.queryAt = url.indexOf('?');
    this.path = this.queryAt < 0 ? url : url.slice(0, this.queryAt);
  }

  /** Hono's own reading of a query parameter (first value, percent-decoded). */
  query(name: string): string | undefined {
    return this.queryAt < 0 ? undefined : (getQueryParam(this.url, name) as string | undefined);
  }

  header(name: string): string | undefined {
    return this.headers[name] as string | undefined;
  }
}
