import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { ServerConfig } from './config/config.js';
import { createApp } from './http/app.js';
import { MediaLibrary } from './library/media-library.js';
import { Origin } from './origin.js';
import { ContentIdIndex } from './store/content-id.js';
import { ContentStore } from './store/content-store.js';

/** Wires the stages together and listens. Used by the CLI, the tests and the bench alike. */
export interface RunningServer {
  url: string;
  port: number;
  origin: Origin;
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  await mkdir(config.mediaDir, { recursive: true });
  await mkdir(config.cacheDir, { recursive: true });
  const store = new ContentStore(config.cacheDir);
  await store.init();
  const ids = new ContentIdIndex(config.cacheDir);
  await ids.load();
  const library = new MediaLibrary(config.mediaDir, store, ids, config.streaming);
  const origin = new Origin(store);
  const app = createApp({ library, origin });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    origin,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets (and ones a client reset mid-request) would otherwise hold close() open for seconds.
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      // Metadata is written just after the responses that created it: finish those writes before exiting.
      await library.flush();
    },
  };
}
