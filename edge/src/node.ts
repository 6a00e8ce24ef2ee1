import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { ExecutionContext } from 'hono';
import { listen } from '../../src/http/listen.js';
import { parseByteSize } from '../../src/store/segment-cache.js';
import { MemoryEdgeCache } from './cache.js';
import { createEdgeApp } from './edge.js';

/**
 * The edge on Node:
 *   npm run edge -- --origin http://HOST:PORT[,http://HOST2:PORT2] --port N [--prefetch K] [--cache-size 512MB] [--sign-key KEY] [--admin-token TOKEN]
 */
export interface NodeEdge {
  url: string;
  edge: ReturnType<typeof createEdgeApp>;
  close(): Promise<void>;
}

export interface NodeEdgeOptions {
  origins: string[];
  port: number;
  host?: string;
  prefetch?: number;
  cacheBytes?: number;
  signKey?: string;
  adminToken?: string;
  /** How long one origin may take to answer before the next is tried (default 30 s). */
  originTimeoutMs?: number;
  /** Seconds between origin health checks (default 5). */
  healthCheckSeconds?: number;
}

/**
 * What Workers give each request, for Node: a process outlives its
 * responses, so background work needs nothing to keep it alive (its errors
 * are handled where it is made).
 */
const NODE_EXECUTION_CONTEXT: ExecutionContext = {
  waitUntil() {},
  passThroughOnException() {},
  props: {},
};

export async function startNodeEdge(options: NodeEdgeOptions): Promise<NodeEdge> {
  const edge = createEdgeApp({
    origins: options.origins,
    cache: new MemoryEdgeCache(options.cacheBytes),
    ...(options.prefetch !== undefined ? { prefetch: options.prefetch } : {}),
    ...(options.signKey ? { signKey: options.signKey } : {}),
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    ...(options.originTimeoutMs ? { originTimeoutMs: options.originTimeoutMs } : {}),
    clientAddress: (c) => getConnInfo(c).remote.address,
  });
  await edge.checkOrigins();
  const health = setInterval(() => void edge.checkOrigins(), (options.healthCheckSeconds ?? 5) * 1000);
  health.unref();
  const host = options.host ?? '127.0.0.1';
  const server = await listen((request, env) => edge.app.fetch(request, env, NODE_EXECUTION_CONTEXT), options.port, host);
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
      'admin-token': { type: 'string' },
    },
  });
  const origins = (values.origin ?? process.env.JITSEG_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  if (origins.length === 0 || origins.some((o) => !/^https?:\/\/[^/]+$/.test(o))) {
    console.error('[jitseg-edge] --origin http://HOST:PORT[,http://HOST2:PORT2] is required');
    process.exit(1);
  }
  const signKey = values['sign-key'] ?? process.env.JITSEG_SIGN_KEY;
  const adminToken = values['admin-token'] ?? process.env.JITSEG_ADMIN_TOKEN;
  const running = await startNodeEdge({
    origins,
    port: Number(values.port),
    host: values.host,
    prefetch: Number(values.prefetch),
    cacheBytes: parseByteSize(values['cache-size']!) ?? 512e6,
    ...(signKey ? { signKey } : {}),
    ...(adminToken ? { adminToken } : {}),
  });
  console.log(`[jitseg-edge] serving on ${running.url} in front of ${origins.join(', ')}`);
  const stop = () => void running.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await main();
