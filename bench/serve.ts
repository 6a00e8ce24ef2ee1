/**
 * One server under test in this (child) process, for the bench:
 *
 *   serve.ts origin <mediaDir> <cacheDir>   the origin with the bench config
 *   serve.ts static <file>                  node:http streaming that one file (the static baseline without nginx)
 *
 * It prints its URL on a ready line and stops on SIGTERM or when its parent
 * goes away (see startChildServer and serveUntilStopped in lib.ts).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { benchStreamingConfig } from './harness.js';
import { serveUntilStopped } from './lib.js';

export async function serveChild(args: string[]): Promise<void> {
  const [kind, ...rest] = args;
  if (kind === 'origin') {
    const [mediaDir, cacheDir] = rest as [string, string];
    const { startServer } = await import('../src/server.js');
    const { silentLogger } = await import('../src/observe/log.js');
    const server = await startServer({ mediaDir, cacheDir, port: 0, host: '127.0.0.1', streaming: benchStreamingConfig() }, { logger: silentLogger() });
    serveUntilStopped(server.url, server.close);
  } else if (kind === 'static') {
    // The baseline: what serving the cached segment file costs with nothing but node:http and a read stream.
    const [file] = rest as [string];
    const server = http.createServer((_req, res) => {
      stat(file).then(
        (info) => {
          res.writeHead(200, { 'Content-Type': 'video/mp4', 'Content-Length': info.size });
          createReadStream(file).pipe(res);
        },
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    serveUntilStopped(`http://127.0.0.1:${port}`, () => new Promise<void>((resolve) => server.close(() => resolve())));
  } else {
    throw new Error(`unknown server kind "${kind}" (origin or static)`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await serveChild(process.argv.slice(2));
