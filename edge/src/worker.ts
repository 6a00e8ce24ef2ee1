import type { ExecutionContext } from 'hono';
import { CacheApiEdgeCache } from './cache.js';
import { createEdgeApp } from './edge.js';

/**
 * The edge on Cloudflare Workers (and other runtimes with the Cache API):
 * ORIGINS (comma-separated) and optionally SIGN_KEY, ADMIN_TOKEN and
 * PREFETCH come from the environment (wrangler.toml [vars] / secrets).
 * Prefetch runs in the request's own ctx.waitUntil (Hono's c.executionCtx),
 * so it outlives that response.
 */
interface Env {
  ORIGINS: string;
  SIGN_KEY?: string;
  ADMIN_TOKEN?: string;
  PREFETCH?: string;
}

/** One app per isolate (its settings come from the isolate's env), so concurrent misses in it share one origin fetch. */
let edge: ReturnType<typeof createEdgeApp> | undefined;

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    edge ??= createEdgeApp({
      origins: env.ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
      cache: new CacheApiEdgeCache((globalThis as unknown as { caches: { default: Cache } }).caches.default),
      prefetch: Number(env.PREFETCH ?? 3),
      ...(env.SIGN_KEY ? { signKey: env.SIGN_KEY } : {}),
      ...(env.ADMIN_TOKEN ? { adminToken: env.ADMIN_TOKEN } : {}),
      clientAddress: (c) => c.req.header('cf-connecting-ip'),
    });
    return edge.app.fetch(request, env, ctx);
  },
};
