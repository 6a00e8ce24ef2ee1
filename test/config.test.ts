import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadServerConfig, parseStreamingYaml } from '../src/config/config.js';
import { exec } from './support/media.js';

const designExample = `
streaming:
  segment_duration: 2
  buffer_ahead: 30
  manifest_update_interval: 1s
  enable_abr: true
  profiles:
    - name: "720p"
      width: 1280
      height: 720
      bitrate: 2500
      quality: 23
  encoder:
    preset: "fast"
    tune: "zerolatency"
    threads: 0
  packager:
    chunk_duration: 2000
    segment_template: "segment_$Number$.mp4"
  storage:
    retention_days: 30
    dedup_enabled: true
    compression: true
`;

describe('config', () => {
  it("accepts the design's advanced configuration", () => {
    const config = parseStreamingYaml(designExample);
    expect(config.segment_duration).toBe(2);
    expect(config.profiles.map((p) => p.name)).toEqual(['720p']);
    expect(config.encoder).toMatchObject({ preset: 'fast', tune: 'zerolatency' });
    expect(config.packager.segment_template).toBe('segment_$Number$.mp4');
  });

  it('names the offending key', () => {
    expect(() => parseStreamingYaml('streaming:\n  segment_duration: 9\n')).toThrow(/streaming\.segment_duration/);
    expect(() => parseStreamingYaml('streaming:\n  profiles:\n    - name: x\n      width: 10\n')).toThrow(/streaming\.profiles\.0\.width/);
    expect(() => parseStreamingYaml('streaming:\n  segmnt_duration: 4\n')).toThrow(/segmnt_duration/);
    expect(() => parseStreamingYaml('streaming:\n  encoder:\n    preset: turbo\n')).toThrow(/streaming\.encoder\.preset/);
    expect(() => parseStreamingYaml('streaming: [')).toThrow(ConfigError);
  });

  it('takes flags over environment over defaults', async () => {
    const defaults = await loadServerConfig([], {});
    expect(defaults).toMatchObject({ mediaDir: './media', cacheDir: './cache', port: 8080 });
    const fromEnv = await loadServerConfig([], { JITSEG_MEDIA_DIR: '/m', JITSEG_CACHE_DIR: '/c', JITSEG_PORT: '9000', JITSEG_HOST: '127.0.0.1' });
    expect(fromEnv).toMatchObject({ mediaDir: '/m', cacheDir: '/c', port: 9000, host: '127.0.0.1' });
    const fromFlags = await loadServerConfig(['--media', '/x', '--port', '1234'], { JITSEG_MEDIA_DIR: '/m', JITSEG_PORT: '9000' });
    expect(fromFlags).toMatchObject({ mediaDir: '/x', port: 1234 });
    await expect(loadServerConfig(['--port', 'eighty'], {})).rejects.toThrow(/port/);
    await expect(loadServerConfig(['--bogus'], {})).rejects.toThrow(ConfigError);
  });

  it('reads the cache budget, prefetch and cluster settings', async () => {
    const yaml = parseStreamingYaml('streaming:\n  storage:\n    max_bytes: 2GB\n  prefetch:\n    ahead_segments: 8\n  encoder:\n    workers: 3\n');
    expect(yaml.storage.max_bytes).toBe(2e9);
    expect(yaml.prefetch).toEqual({ enabled: true, startup_segments: 3, ahead_segments: 8, seek_segments: 2 });
    expect(yaml.encoder.workers).toBe(3);
    expect(() => parseStreamingYaml('streaming:\n  storage:\n    max_bytes: lots\n')).toThrow(/streaming\.storage\.max_bytes/);

    const flags = await loadServerConfig(['--cache-size', '500MiB', '--redis', 'redis://10.0.0.5:6379', '--lease-ms', '3000'], {});
    expect(flags.streaming.storage.max_bytes).toBe(500 * 2 ** 20);
    expect(flags).toMatchObject({ redisUrl: 'redis://10.0.0.5:6379', leaseMs: 3000 });
    expect((await loadServerConfig([], { JITSEG_CACHE_SIZE: '1G', JITSEG_REDIS_URL: 'redis://r:1' })).streaming.storage.max_bytes).toBe(1e9);
    expect((await loadServerConfig([], {})).redisUrl).toBeUndefined();
    await expect(loadServerConfig(['--cache-size', 'huge'], {})).rejects.toThrow(/--cache-size/);
    await expect(loadServerConfig(['--redis', 'localhost:6379'], {})).rejects.toThrow(/--redis/);
    await expect(loadServerConfig(['--lease-ms', '5'], {})).rejects.toThrow(/--lease-ms/);
  });

  it('an invalid config file stops start-up with a message naming the key', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-config-'));
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, 'streaming:\n  segment_duration: 1\n');
    const result = await exec('npx', ['tsx', 'src/main.ts', '--config', file, '--media', dir, '--cache', dir, '--port', '0']).catch((err) => err);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/streaming\.segment_duration/);
  });

  it('protected content: off by default; on, it needs a seed (or a key service) and signed URLs', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-config-'));
    const write = async (name: string, drm: string) => {
      const file = path.join(dir, name);
      await writeFile(file, `streaming:\n  drm: ${drm}\n`);
      return file;
    };
    expect((await loadServerConfig([], {})).streaming.drm.enabled).toBe(false);
    const seeded = await write('seed.yaml', '{ enabled: true, scheme: cenc }');
    const seed = 'x'.repeat(32);
    const ok = await loadServerConfig(['--config', seeded, '--sign-key', 'k'.repeat(16), '--drm-key-seed', seed], {});
    expect(ok.streaming.drm).toMatchObject({ enabled: true, scheme: 'cenc', key_source: 'seed' });
    expect(ok.drmKeySeed).toBe(seed);
    expect((await loadServerConfig(['--config', seeded, '--sign-key', 'k'.repeat(16)], { JITSEG_DRM_KEY_SEED: seed })).drmKeySeed).toBe(seed);
    await expect(loadServerConfig(['--config', seeded, '--sign-key', 'k'.repeat(16)], {})).rejects.toThrow(/--drm-key-seed/);
    await expect(loadServerConfig(['--config', seeded, '--drm-key-seed', seed], {})).rejects.toThrow(/needs --sign-key/);
    await expect(loadServerConfig(['--config', seeded, '--sign-key', 'k'.repeat(16), '--drm-key-seed', 'short'], {})).rejects.toThrow(/at least 32/);
    await expect(loadServerConfig(['--config', await write('service.yaml', '{ enabled: true, key_source: service }')], {})).rejects.toThrow(/streaming\.drm\.key_service/);
    await expect(loadServerConfig(['--config', await write('typo.yaml', '{ enabled: true, schema: cbcs }')], {})).rejects.toThrow(/streaming\.drm/);
  });
});
