import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseByteSize } from '../store/segment-cache.js';
import { drmSchema, drmDefaults } from '../package/drm/config.js';

/**
 * The `streaming:` block of the design, validated. YAML keys are the design's
 * snake_case names; unknown keys are rejected so a typo never silently does nothing.
 */
const profileSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'letters, digits, "_" or "-" (max 32)'),
    width: z.number().int().min(16).max(7680),
    height: z.number().int().min(16).max(4320),
    /** Target (and VBV cap) video bitrate in kb/s. */
    bitrate: z.number().int().min(50).max(100_000),
    /** x264 CRF. */
    quality: z.number().min(0).max(51),
  })
  .strict();

const streamingSchema = z
  .object({
    segment_duration: z.number().min(2).max(6).default(4),
    buffer_ahead: z.number().min(0).default(20),
    enable_abr: z.boolean().default(true),
    manifest_update_interval: z.union([z.string(), z.number()]).optional(),
    profiles: z
      .array(profileSchema)
      .min(1)
      .default([
        { name: '1080p', width: 1920, height: 1080, bitrate: 4000, quality: 23 },
        { name: '720p', width: 1280, height: 720, bitrate: 2500, quality: 23 },
        { name: '480p', width: 854, height: 480, bitrate: 1200, quality: 23 },
      ])
      .refine((ps) => new Set(ps.map((p) => p.name)).size === ps.length, 'profile names must be unique'),
    /** HDR sources: tonemap (the H.264 ladder in SDR BT.709) or keep (that, and an HEVC Main 10 rendition in the source's PQ/HLG). */
    hdr: z.enum(['tonemap', 'keep']).default('tonemap'),
    audio: z
      .object({
        /** Stereo AAC rendition of every source track, kb/s. */
        bitrate: z.number().int().min(32).max(512).default(128),
        /** Also a 5.1 AAC rendition of every source track with six or more channels. */
        surround: z.boolean().default(false),
        surround_bitrate: z.number().int().min(128).max(1024).default(384),
      })
      .strict()
      .default({ bitrate: 128, surround: false, surround_bitrate: 384 }),
    encoder: z
      .object({
        preset: z
          .enum(['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'])
          .default('veryfast'),
        tune: z.enum(['film', 'animation', 'grain', 'stillimage', 'fastdecode', 'zerolatency']).optional(),
        /** Decoding threads per encode (0: ffmpeg's choice). x264 always runs one thread, so output never depends on it. */
        threads: z.number().int().min(0).max(256).default(0),
        /** Encodes at once (0: one per CPU core). */
        workers: z.number().int().min(0).max(256).default(0),
        /** Encodes that may wait for a worker; beyond it prefetch is shed and requests get 503. */
        max_queue: z.number().int().min(1).max(100_000).default(64),
        /**
         * A player's request that cannot start encoding within this, or that waits this long for
         * another instance making the same file, gets 503 + Retry-After.
         */
        max_wait_seconds: z.number().min(0.1).max(600).default(15),
        /** FFmpeg reporting no progress for this long is killed (and the encode retried). */
        stall_timeout_seconds: z.number().min(0.5).max(600).default(20),
        /**
         * In linear play one run makes up to this many consecutive segments of a rendition (a head,
         * coordinate/heads.ts); 1: every segment is its own encode. Audio runs make the span-made bytes.
         */
        run_segments: z.number().int().min(1).max(64).default(8),
        /**
         * Video in runs too (libx264): one x264 process over the run, so a run-made segment is interchangeable
         * with a span-made one but not the same bytes. Off by default: then a URL's bytes are the same on every
         * instance and after an eviction. Turn on for one instance, or instances sharing the Redis registry,
         * that accept other bytes after a re-make.
         */
        video_runs: z.boolean().default(false),
        /** Hardware H.264 encoder: auto (the first that works), none (libx264), or one by name. */
        hwaccel: z.enum(['auto', 'none', 'nvenc', 'qsv', 'vaapi', 'videotoolbox']).default('auto'),
        /** Prefetch encodes at once, in slots of their own at the lowest CPU priority (0: as many as workers). */
        prefetch_workers: z.number().int().min(0).max(256).default(0),
        /**
         * CPU niceness of prefetch encodes: 19 (the lowest priority) lets anything else on the machine go
         * first, so next to other busy work prefetch gets almost no CPU; lower it to let prefetch compete.
         */
        prefetch_nice: z.number().int().min(0).max(19).default(19),
        /** Quality bends under load: players' segments made at a fast speed (coordinate/degrade.ts). */
        degrade: z
          .object({
            enabled: z.boolean().default(true),
            /** Players' encodes waiting for a worker at which a player's encode is made fast. */
            queue_length: z.number().int().min(1).max(100_000).default(4),
            /** × real time a rendition's normal encodes must keep (with the queue ahead) before a player's encode is made fast. */
            min_speed: z.number().min(0.01).max(10_000).default(1),
          })
          .strict()
          .default({ enabled: true, queue_length: 4, min_speed: 1 }),
      })
      .strict()
      .default({ preset: 'veryfast', threads: 0, workers: 0, max_queue: 64, max_wait_seconds: 15, stall_timeout_seconds: 20, run_segments: 8, video_runs: false, hwaccel: 'auto', prefetch_workers: 0, prefetch_nice: 19, degrade: { enabled: true, queue_length: 4, min_speed: 1 } }),
    prefetch: z
      .object({
        enabled: z.boolean().default(true),
        /** Segments made ahead when a player starts. */
        startup_segments: z.number().int().min(0).max(20).default(3),
        /** Segments kept ready ahead of a player in linear play. */
        ahead_segments: z.number().int().min(0).max(30).default(5),
        /** Segments made at a seek point. */
        seek_segments: z.number().int().min(0).max(20).default(2),
      })
      .strict()
      .default({ enabled: true, startup_segments: 3, ahead_segments: 5, seek_segments: 2 }),
    packager: z
      .object({
        chunk_duration: z.number().optional(),
        segment_template: z
          .string()
          .regex(/^[A-Za-z0-9_.-]*\$Number\$[A-Za-z0-9_.-]*\.(m4s|mp4)$/, 'must contain $Number$ and end in .m4s or .mp4')
          .default('segment_$Number$.m4s'),
      })
      .strict()
      .default({ segment_template: 'segment_$Number$.m4s' }),
    /** Seek thumbnails (sprite sheets of keyframes) and a poster per content: see plan/thumbnails.ts. */
    thumbnails: z
      .object({
        enabled: z.boolean().default(true),
        /** Seconds of the presentation each thumbnail stands for. */
        interval_seconds: z.number().min(1).max(60).default(5),
        /** Width of one thumbnail in pixels (its height follows the picture's shape). */
        width: z.number().int().min(32).max(640).default(160),
        /** Thumbnails per sheet: columns × rows. */
        columns: z.number().int().min(1).max(20).default(10),
        rows: z.number().int().min(1).max(20).default(10),
        /** Width of the poster image (never wider than the picture). */
        poster_width: z.number().int().min(64).max(1920).default(640),
      })
      .strict()
      .default({ enabled: true, interval_seconds: 5, width: 160, columns: 10, rows: 10, poster_width: 640 }),
    storage: z
      .object({
        retention_days: z.number().min(0).default(30),
        /** Byte budget of the segment cache on disk, e.g. 10GB or 500MiB (least recently used segments go first). */
        max_bytes: z
          .union([z.number(), z.string()])
          .transform((v, ctx) => {
            const bytes = parseByteSize(v);
            if (bytes === undefined || bytes < 1) ctx.addIssue({ code: 'custom', message: 'a size such as 10GB, 500MiB or a byte count' });
            return bytes ?? 0;
          })
          .default(10e9),
        dedup_enabled: z.boolean().default(true),
        compression: z.boolean().optional(),
        /** full: SHA-256 of every byte; sampled: SHA-256 of size + sampled regions (see README). */
        hash_mode: z.enum(['sampled', 'full']).default('sampled'),
        /**
         * Memory for contents' probes and plans (their per-frame tables), e.g. 64MiB (the default when unset);
         * least recently used contents are dropped and derived again from the store on their next request.
         */
        content_memory_bytes: z
          .union([z.number(), z.string()])
          .transform((v, ctx) => {
            const bytes = parseByteSize(v);
            if (bytes === undefined || bytes < 1) ctx.addIssue({ code: 'custom', message: 'a size such as 64MiB or a byte count' });
            return bytes ?? 0;
          })
          .optional(),
      })
      .strict()
      .default({ retention_days: 30, dedup_enabled: true, hash_mode: 'sampled', max_bytes: 10e9 }),
    /** Encryption of every segment (off by default): see package/drm/config.ts. */
    drm: drmSchema.default(drmDefaults),
  })
  .strict();

const fileSchema = z.object({ streaming: streamingSchema.default(streamingSchema.parse({})) }).strict();

export type StreamingConfig = z.infer<typeof streamingSchema>;
export type Profile = z.infer<typeof profileSchema>;
export type ThumbnailConfig = StreamingConfig['thumbnails'];

export interface ServerConfig {
  mediaDir: string;
  cacheDir: string;
  port: number;
  host: string;
  streaming: StreamingConfig;
  /** Coordinate encodes with other instances through this Redis (none: this process alone). */
  redisUrl?: string;
  /** This instance's base URL as its peers reach it (default http://127.0.0.1:{port}). */
  advertiseUrl?: string;
  /** Lease on an encode: how long peers wait before taking over from an instance that died (default 5 s). */
  leaseMs?: number;
  /** HMAC key for signed URLs: when set, content and /vod URLs need a valid signature. */
  signKey?: string;
  /** Bearer token for the admin endpoints (none: they are open). */
  adminToken?: string;
  /** Master secret content keys are derived from (streaming.drm with key_source: seed). */
  drmKeySeed?: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export const defaultStreamingConfig = (): StreamingConfig => streamingSchema.parse({});

/** Parses a YAML document in the design's shape; the error names the offending key path. */
export function parseStreamingYaml(text: string, source = 'config'): StreamingConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const result = fileSchema.safeParse(doc);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.') || '(root)';
    throw new ConfigError(`${source}: invalid value at "${key}": ${issue.message}`);
  }
  return result.data.streaming;
}

/** What protected content needs besides its config block: a seed to derive keys from, and signed sessions for the key endpoint. */
function checkDrmSettings(streaming: StreamingConfig, seed: string | undefined, signKey: string | undefined): void {
  const drm = streaming.drm;
  if (seed !== undefined && seed.length < 32) throw new ConfigError('--drm-key-seed: use at least 32 characters (e.g. openssl rand -hex 32)');
  if (!drm.enabled) return;
  if (drm.key_source === 'seed' && !seed) throw new ConfigError('streaming.drm.key_source is "seed": set --drm-key-seed or JITSEG_DRM_KEY_SEED');
  // The key endpoint answers only a signed session of the content; without signing it would hand keys to anyone.
  if (!signKey) throw new ConfigError('streaming.drm needs --sign-key: the key endpoint answers only signed sessions');
}

function parsePort(value: string, from: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`${from}: port must be 0-65535, got "${value}"`);
  return port;
}

/** CLI flags win over environment variables, which win over defaults. */
export async function loadServerConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<ServerConfig> {
  let flags;
  try {
    flags = parseArgs({
      args: argv,
      options: {
        media: { type: 'string' },
        cache: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        config: { type: 'string' },
        'cache-size': { type: 'string' },
        redis: { type: 'string' },
        'advertise-url': { type: 'string' },
        'lease-ms': { type: 'string' },
        'sign-key': { type: 'string' },
        'admin-token': { type: 'string' },
        'drm-key-seed': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const configPath = flags.config ?? env.JITSEG_CONFIG;
  let streaming = defaultStreamingConfig();
  if (configPath) {
    let text: string;
    try {
      text = await readFile(configPath, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config file ${configPath}: ${(err as Error).message}`);
    }
    streaming = parseStreamingYaml(text, configPath);
  }
  const cacheSize = flags['cache-size'] ?? env.JITSEG_CACHE_SIZE;
  if (cacheSize !== undefined) {
    const bytes = parseByteSize(cacheSize);
    if (bytes === undefined || bytes < 1) throw new ConfigError(`--cache-size: expected a size such as 2GB or 500MiB, got "${cacheSize}"`);
    streaming = { ...streaming, storage: { ...streaming.storage, max_bytes: bytes } };
  }
  const leaseMs = Number(flags['lease-ms'] ?? env.JITSEG_LEASE_MS ?? 5000);
  if (!Number.isInteger(leaseMs) || leaseMs < 500 || leaseMs > 600_000) throw new ConfigError('--lease-ms: expected 500-600000 milliseconds');
  const redisUrl = flags.redis ?? env.JITSEG_REDIS_URL;
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError(`--redis: expected redis://host:port, got "${redisUrl}"`);
  const advertiseUrl = flags['advertise-url'] ?? env.JITSEG_ADVERTISE_URL;
  if (advertiseUrl !== undefined && !/^https?:\/\/[^/]+$/.test(advertiseUrl)) throw new ConfigError(`--advertise-url: expected http://host:port, got "${advertiseUrl}"`);
  const signKey = flags['sign-key'] ?? env.JITSEG_SIGN_KEY;
  if (signKey !== undefined && signKey.length < 16) throw new ConfigError('--sign-key: use at least 16 characters');
  const adminToken = flags['admin-token'] ?? env.JITSEG_ADMIN_TOKEN;
  if (adminToken !== undefined && adminToken.length < 16) throw new ConfigError('--admin-token: use at least 16 characters');
  const drmKeySeed = flags['drm-key-seed'] ?? env.JITSEG_DRM_KEY_SEED;
  checkDrmSettings(streaming, drmKeySeed, signKey);
  return {
    ...(drmKeySeed ? { drmKeySeed } : {}),
    ...(signKey ? { signKey } : {}),
    ...(adminToken ? { adminToken } : {}),
    ...(redisUrl ? { redisUrl } : {}),
    ...(advertiseUrl ? { advertiseUrl } : {}),
    leaseMs,
    mediaDir: flags.media ?? env.JITSEG_MEDIA_DIR ?? './media',
    cacheDir: flags.cache ?? env.JITSEG_CACHE_DIR ?? './cache',
    port: flags.port ? parsePort(flags.port, '--port') : env.JITSEG_PORT ? parsePort(env.JITSEG_PORT, 'JITSEG_PORT') : 8080,
    host: flags.host ?? env.JITSEG_HOST ?? '0.0.0.0',
    streaming,
  };
}
