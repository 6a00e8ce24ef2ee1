import path from 'node:path';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { ServiceUnavailableError } from '../errors.js';
import type { ContentMetadata } from '../library/content.js';
import type { Logger } from '../observe/log.js';
import type { ContentStore } from '../store/content-store.js';

/**
 * The content registry: hash → what the content is (relative path, size,
 * mtime, probe summary) and the fingerprint of the probe its plan was made
 * from. A record is durable before put() resolves, so nothing that names a
 * hash is answered before the hash can be looked up again, after a kill -9
 * or on another instance.
 *
 * Each instance still checks on its own that the file at the recorded path
 * hashes to the recorded hash (the registry says where to look, never what
 * to trust).
 */
export interface ContentRecord {
  metadata: ContentMetadata;
  /** SHA-256 of the serialised probe (src/probe/serialize.ts) the content's plan comes from. */
  probeFingerprint: string;
}

export interface ContentRegistry {
  /** The record of a hash, or undefined when none was made. Throws ServiceUnavailableError when the registry cannot be asked. */
  get(hash: string): Promise<ContentRecord | undefined>;
  /** Records a content (with the probe text its fingerprint is of); durable when it resolves. */
  put(record: ContentRecord, probeText: string): Promise<void>;
  /** The probe text another instance recorded with a content (undefined when not shared or unreachable). */
  sharedProbe(hash: string): Promise<string | undefined>;
  list(): Promise<ContentMetadata[]>;
  close(): Promise<void>;
}

const HASH_PATTERN = /^[0-9a-f]{64}$/;
const RECORD_FILE = 'metadata.json';

/** A record as stored: the metadata's fields, and the fingerprint beside them (older files have none). */
type StoredRecord = ContentMetadata & { probeFingerprint?: string };

function fromStored(hash: string, value: unknown): ContentRecord | undefined {
  const stored = value as StoredRecord | null;
  if (typeof stored !== 'object' || stored === null || stored.hash !== hash || typeof stored.path !== 'string') return undefined;
  const { probeFingerprint, ...metadata } = stored;
  return { metadata, probeFingerprint: probeFingerprint ?? '' };
}

function toStored(record: ContentRecord): string {
  const stored: StoredRecord = { ...record.metadata, probeFingerprint: record.probeFingerprint };
  return JSON.stringify(stored);
}

/** The records as {cache}/{hash}/metadata.json in this instance's store. */
export class LocalRegistry implements ContentRegistry {
  constructor(private readonly store: ContentStore) {}

  async get(hash: string): Promise<ContentRecord | undefined> {
    let text: Buffer | undefined;
    try {
      text = await this.store.read(path.join(this.store.contentDir(hash), RECORD_FILE));
    } catch (err) {
      // A content directory that is not a directory (or similar) holds no record.
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
    if (!text) return undefined;
    try {
      return fromStored(hash, JSON.parse(text.toString('utf8')));
    } catch (err) {
      // A record torn by a crash before its fsync was never answered with: as if never written.
      if (err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  async put(record: ContentRecord): Promise<void> {
    const dir = this.store.contentDir(record.metadata.hash);
    const file = path.join(dir, RECORD_FILE);
    // Durable when it resolves: the atomic write fsyncs the file, its directory and the entry of a new content directory.
    await this.store.write(file, toStored(record));
  }

  async sharedProbe(): Promise<string | undefined> {
    return undefined;
  }

  async list(): Promise<ContentMetadata[]> {
    const hashes = await this.store.listContent();
    const records = await Promise.all(hashes.map((hash) => this.get(hash)));
    return records.filter((r): r is ContentRecord => r !== undefined).map((r) => r.metadata);
  }

  async close(): Promise<void> {}
}

const RECORDS_KEY = 'jitseg:content';
const probeKey = (hash: string) => `jitseg:probe:${hash}`;
/** Redis calls that take longer than this count as Redis being away. */
const COMMAND_TIMEOUT_MS = 1000;
/** Records kept in memory to share once Redis is back (a registration during the outage writes them again anyway). */
const MAX_UNSHARED = 1000;

/**
 * The records in Redis, so every instance finds what any instance
 * registered, and in the local store as well (write-through): this
 * instance's own contents keep working while Redis is away. A put that
 * cannot reach Redis is logged and shared once Redis is back.
 */
export class RedisRegistry implements ContentRegistry {
  private readonly redis: Redis;
  private readonly unshared = new LRUCache<string, { record: ContentRecord; probeText: string }>({ max: MAX_UNSHARED });
  private closed = false;

  constructor(
    redisUrl: string,
    private readonly local: LocalRegistry,
    private readonly logger?: Logger,
  ) {
    this.redis = new Redis(redisUrl, {
      // Fail fast while disconnected, as the coordinator does.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
    });
    this.redis.on('error', () => {}); // the failing calls report it
    this.redis.on('ready', () => void this.shareUnshared());
  }

  async get(hash: string): Promise<ContentRecord | undefined> {
    const local = await this.local.get(hash);
    if (local) return local;
    let stored: string | null;
    try {
      stored = await this.redis.hget(RECORDS_KEY, hash);
    } catch (err) {
      throw new ServiceUnavailableError(`the content registry (Redis) cannot be reached: ${(err as Error).message}`, 2);
    }
    if (stored === null) return undefined;
    try {
      return fromStored(hash, JSON.parse(stored));
    } catch (err) {
      if (err instanceof SyntaxError) {
        this.logger?.error({ content: hash }, 'unreadable content record in Redis');
        return undefined;
      }
      throw err;
    }
  }

  async put(record: ContentRecord, probeText: string): Promise<void> {
    await this.local.put(record);
    try {
      await this.share(record, probeText);
    } catch (err) {
      this.unshared.set(record.metadata.hash, { record, probeText });
      this.logger?.warn({ content: record.metadata.hash, err: (err as Error).message }, 'content not shared in Redis yet (other instances answer 404 for it until Redis is back)');
    }
  }

  async sharedProbe(hash: string): Promise<string | undefined> {
    try {
      return (await this.redis.get(probeKey(hash))) ?? undefined;
    } catch (err) {
      // A cache for the caller, which probes the file itself instead.
      this.logger?.warn({ content: hash, err: (err as Error).message }, 'shared probe not readable from Redis');
      return undefined;
    }
  }

  async list(): Promise<ContentMetadata[]> {
    const byHash = new Map((await this.local.list()).map((m) => [m.hash, m]));
    try {
      for (const [hash, stored] of Object.entries(await this.redis.hgetall(RECORDS_KEY))) {
        if (!HASH_PATTERN.test(hash) || byHash.has(hash)) continue;
        try {
          const record = fromStored(hash, JSON.parse(stored));
          if (record) byHash.set(hash, record.metadata);
        } catch (err) {
          if (!(err instanceof SyntaxError)) throw err;
          this.logger?.error({ content: hash }, 'unreadable content record in Redis');
        }
      }
    } catch (err) {
      this.logger?.warn({ err: (err as Error).message }, 'listing this instance\'s contents only: Redis cannot be reached');
    }
    return [...byHash.values()];
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async share(record: ContentRecord, probeText: string): Promise<void> {
    const hash = record.metadata.hash;
    const results = await this.redis.multi().hset(RECORDS_KEY, hash, toStored(record)).set(probeKey(hash), probeText).exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('transaction aborted');
    this.unshared.delete(hash);
  }

  private async shareUnshared(): Promise<void> {
    for (const [hash, { record, probeText }] of [...this.unshared.entries()]) {
      if (this.closed) return;
      try {
        await this.share(record, probeText);
        this.logger?.info({ content: hash }, 'content shared in Redis');
      } catch (err) {
        this.logger?.warn({ content: hash, err: (err as Error).message }, 'content still not shared in Redis');
        return; // the next 'ready' tries again
      }
    }
  }
}
