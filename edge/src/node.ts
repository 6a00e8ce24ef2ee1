import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { serve } from '@hono/node-server';
import { parseByteSize } from '../../src/store/segment-cache.js';
import { MemoryEdgeCache } from './cache.js';
import { createEdgeApp } from './edge.js';

/**
 * The edge on Node:
 *   npm run edge -- --origin http://HOST:PORT[,http://HOST2:PORT2] --port N [--prefetch K] [--cache-size 512MB] [--sign-key KEY]
 */
export interface NodeEdge {
  url: string;
  edge: ReturnType<typeof createEdgeApp>;
  close(): Promise<void>;
}

export async function startNodeEdge(options: { origins: string[]; port: number; host?: string; prefetch?: number; cacheBytes?: number; signKey?: string }): Promise<NodeEdge> {
  const edge = createEdgeApp({
    origins: options.origins,
    cache: new MemoryEdgeCache(options.cacheBytes),
    ...(options.prefetch !== undefined ? { prefetch: options.prefetch } : {}),
    ...(options.signKey ? { signKey: options.signKey } : {}),
  });
  await edge.checkOrigins();
  const health = setInterval(() => void edge.checkOrigins(), 5000);
  health.unref();
  const host = options.host ?? '127.0.0.1';
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: edge.app.fetch, port: options.port, hostname: host }, () => resolve(s));
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    edge,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(health);
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      }),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      origin: { type: 'string' },
      port: { type: 'string', default: '8081' },
      host: { type: 'string', default: '0.0.0.0' },
      prefetch: { type: 'string', default: '3' },
      'cache-size': { type: 'string', default: '512MB' },
      'sign-key': { type: 'string' },
    },
  });
  const origins = (values.origin ?? process.env.JITSEG_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  if (origins.length === 0 || origins.some((o) => !/^https?:\/\/[^/]+$/.test(o))) {
    console.error('[jitseg-edge] --origin http://HOST:PORT[,http://HOST2:PORT2] is required');
    process.exit(1);
  }
  const signKey = values['sign-key'] ?? process.env.JITSEG_SIGN_KEY;
  const running = await startNodeEdge({
    origins,
    port: Number(values.port),
    host: values.host,
    prefetch: Number(values.prefetch),
    cacheBytes: parseByteSize(values['cache-size']!) ?? 512e6,
    ...(signKey ? { signKey } : {}),
  });
  console.log(`[jitseg-edge] serving on ${running.url} in front of ${origins.join(', ')}`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
