import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultStreamingConfig, type ServerConfig, type StreamingConfig } from '../../src/config/config.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { silentLogger } from '../../src/observe/log.js';

export type TestServer = RunningServer & { cacheDir: string };

/**
 * The defaults, with degrading under load off: whether a segment is degraded depends on this machine's speed, and
 * most tests count encodes or compare bytes. The tests of degrading turn it on (test/degrade-*.test.ts). Heads
 * (encoder runs in linear play) are off too: most tests count span encodes; test/heads.test.ts turns them on.
 */
const TEST_DEFAULTS: StreamingConfig = (() => {
  const defaults = defaultStreamingConfig();
  return { ...defaults, encoder: { ...defaults.encoder, run_segments: 1, degrade: { ...defaults.encoder.degrade, enabled: false } } };
})();

/** A real origin on a loopback port with a fresh cache (or the given one). */
export async function testServer(
  mediaDir: string,
  streaming: Partial<StreamingConfig> = {},
  options: Partial<Pick<ServerConfig, 'cacheDir' | 'redisUrl' | 'leaseMs' | 'signKey' | 'adminToken' | 'drmKeySeed'>> = {},
): Promise<TestServer> {
  const cacheDir = options.cacheDir ?? (await mkdtemp(path.join(os.tmpdir(), 'jitseg-cache-')));
  const server = await startServer(
    { ...options, mediaDir, cacheDir, port: 0, host: '127.0.0.1', streaming: { ...TEST_DEFAULTS, ...streaming } },
    { logger: silentLogger() },
  );
  return { ...server, cacheDir };
}

/** Streaming config with prefetch off: for tests that count encodes of exactly what they request. */
export const NO_PREFETCH: Partial<StreamingConfig> = { prefetch: { ...defaultStreamingConfig().prefetch, enabled: false } };

/** The default encoder settings with some changed. */
export const encoderWith = (changes: Partial<StreamingConfig['encoder']>): StreamingConfig['encoder'] => ({ ...TEST_DEFAULTS.encoder, ...changes });
