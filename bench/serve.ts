/**
 * One server under test in this (child) process, for the bench:
 *
 *   serve.ts origin <mediaDir> <cacheDir> [--streaming <json>] [--trace <file>]
 *                                           the origin with the bench config (or the StreamingConfig given
 *                                           as JSON), optionally tracing what it does into <file> (origin-trace.ts)
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
import type { StreamingConfig } from '../src/config/config.js';
import { benchStreamingConfig } from './harness.js';
import { serveUntilStopped } from './lib.js';

export async function serveChild(args: string[]): Promise<void> {
  const [kind, ...rest] = args;
  if (kind === 'origin') {
    const [mediaDir, cacheDir, ...options] = rest as [string, string, ...string[]];
    const option = (name: string) => {
      const at = options.indexOf(name);
      return at >= 0 ? options[at + 1] : undefined;
    };
    const streamingJson = option('--streaming');
    const traceFile = option('--trace');
    const { startServer } = await import('../src/server.js');
    const { silentLogger } = await import('../src/observe/log.js');
    const { TraceWriter } = await import('./origin-trace.js');
    const trace = traceFile ? new TraceWriter(traceFile) : undefined;
    const streaming = streamingJson ? (JSON.parse(streamingJson) as StreamingConfig) : benchStreamingConfig();
    const server = await startServer({ mediaDir, cacheDir, port: 0, host: '127.0.0.1', streaming }, { logger: trace?.logger() ?? silentLogger() });
    trace?.watchEvents(server.events);
    trace?.watchQueue(server.queue);
    serveUntilStopped(server.url, async () => {
      await server.close();
      trace?.close();
    });
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
