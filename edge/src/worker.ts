import { CacheApiEdgeCache } from './cache.js';
import { createEdgeApp } from './edge.js';

/**
 * The edge on Cloudflare Workers (and other runtimes with the Cache API):
 * ORIGINS (comma-separated) and optionally SIGN_KEY and PREFETCH come from
 * the environment (wrangler.toml [vars] / secrets). Prefetch runs in
 * ctx.waitUntil so it outlives the response.
 */
interface Env {
  ORIGINS: string;
  SIGN_KEY?: string;
  PREFETCH?: string;
}

interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** One app per isolate, so concurrent misses in it share one origin fetch; background work goes to the request's waitUntil. */
let edge: ReturnType<typeof createEdgeApp> | undefined;
let waitUntil: (work: Promise<unknown>) => void = () => {};

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    waitUntil = (work) => ctx.waitUntil(work);
    edge ??= createEdgeApp({
      origins: env.ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
      cache: new CacheApiEdgeCache((globalThis as unknown as { caches: { default: Cache } }).caches.default),
      prefetch: Number(env.PREFETCH ?? 3),
      ...(env.SIGN_KEY ? { signKey: env.SIGN_KEY } : {}),
      waitUntil: (work) => waitUntil(work),
    });
    return edge.app.fetch(request);
  },
};
