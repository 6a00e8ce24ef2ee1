import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultStreamingConfig, type StreamingConfig } from '../../src/config/config.js';
import { startServer, type RunningServer } from '../../src/server.js';

/** A real origin on a loopback port with a fresh cache. */
export async function testServer(mediaDir: string, streaming: Partial<StreamingConfig> = {}): Promise<RunningServer & { cacheDir: string }> {
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-cache-'));
  const server = await startServer({
    mediaDir,
    cacheDir,
    port: 0,
    host: '127.0.0.1',
    streaming: { ...defaultStreamingConfig(), ...streaming },
  });
  return { ...server, cacheDir };
}
