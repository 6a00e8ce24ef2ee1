import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { InvalidRequestError } from '../../errors.js';
import { EVENT_TYPES, type PipelineEventType, type StampedEvent } from '../../observe/events.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { BoundedQueue } from '../event-queue.js';

export const DEFAULT_SSE_QUEUE_LIMIT = 1000;

/**
 * GET /api/v1/events: the pipeline's events as Server-Sent Events, filtered
 * by content and type, with heartbeats. Each client has a capped queue: one
 * that falls that far behind is dropped (and logged), not buffered forever.
 */
export function eventRoutes(deps: Pick<AppDeps, 'events' | 'logger' | 'heartbeatSeconds' | 'sseQueueLimit'>): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limit = deps.sseQueueLimit ?? DEFAULT_SSE_QUEUE_LIMIT;
  app.get('/api/v1/events', (c) => {
    const content = c.req.query('content');
    const types = c.req.query('type')?.split(',').filter(Boolean);
    if (types?.some((t) => !EVENT_TYPES.includes(t as PipelineEventType))) throw new InvalidRequestError(`type must be among ${EVENT_TYPES.join(', ')}`);
    const heartbeatMs = (deps.heartbeatSeconds ?? 15) * 1000;
    const requestId = c.get('requestId');
    return streamSSE(c, async (stream) => {
      const queue = new BoundedQueue<StampedEvent>(limit);
      let overflowed = false;
      let wake: (() => void) | undefined;
      const unsubscribe = deps.events.subscribe((event) => {
        if (overflowed) return;
        if (content && ('content' in event ? event.content : undefined) !== content) return;
        if (types && !types.includes(event.type)) return;
        if (!queue.push(event)) {
          overflowed = true;
          deps.logger.warn({ requestId, queued: queue.length, limit }, 'SSE client dropped: it reads slower than events arrive');
          // Ends the response even while a write waits on the slow client (abort cancels the stream under it).
          stream.abort();
        }
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await stream.write(': connected\n\n');
      while (!stream.aborted) {
        const event = queue.shift();
        if (event) {
          await stream.writeSSE({ event: event.type, data: JSON.stringify(event) });
          continue;
        }
        const timedOut = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(true), heartbeatMs);
          wake = () => {
            clearTimeout(timer);
            resolve(false);
          };
        });
        wake = undefined;
        if (timedOut && !stream.aborted) await stream.write(': heartbeat\n\n');
      }
      unsubscribe();
    });
  });
  return app;
}
