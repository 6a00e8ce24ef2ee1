import { createServer, type Server } from 'node:http';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { FrontHandler } from './segment-front.js';

/**
 * A Hono app on a Node HTTP server (the origin and the Node edge). Like
 * @hono/node-server's serve(), plus one thing serve() cannot be told: a
 * request whose target Node's adapter cannot turn into a URL (a backslash in
 * the path, an unparsable target) is answered with a JSON reason here; it
 * never reaches the app, so it can name no file and pass no guard.
 */
type FetchCallback = Parameters<typeof getRequestListener>[0];

export function listen(fetch: FetchCallback, port: number, hostname: string, front?: FrontHandler): Promise<Server> {
  const app = getRequestListener(fetch, { hostname, errorHandler: refuse });
  // The warm-segment front answers what it can and hands the rest to the app (segment-front.ts).
  const server = createServer(front ? (req, res) => front(req, res, () => void app(req, res)) : app);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, hostname, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

const JSON_HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Access-Control-Allow-Origin': '*' };

/** The adapter's errors before the app runs: a target that is no path here is a 404, any other malformed request a 400. */
function refuse(err: unknown): Response {
  if (!(err instanceof RequestError)) {
    // Hono answers every error of the app itself; anything else here is a bug worth a stack in the log.
    console.error('[jitseg] request failed outside the app', err);
    return Response.json({ error: 'internal_error', message: 'the request failed' }, { status: 500, headers: JSON_HEADERS });
  }
  const noSuchPath = /backslash|invalid url/i.test(err.message);
  return Response.json(
    noSuchPath ? { error: 'not_found', message: 'the request target is not a path this server serves' } : { error: 'bad_request', message: 'malformed request' },
    { status: noSuchPath ? 404 : 400, headers: JSON_HEADERS },
  );
}
