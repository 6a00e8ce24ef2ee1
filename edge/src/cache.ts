import { LRUCache } from 'lru-cache';

/**
 * The edge's segment cache: an LRU in memory on Node, the Cache API on edge
 * runtimes (Cloudflare Workers, Deno Deploy). Entries are whole responses of
 * immutable, hash-addressed files, keyed by path (never by query, so a URL
 * signature is not part of the key).
 */

export interface CachedResponse {
  body: ArrayBuffer;
  headers: Record<string, string>;
}

export interface EdgeCache {
  get(key: string): Promise<CachedResponse | undefined>;
  put(key: string, value: CachedResponse, ttlSeconds?: number): Promise<void>;
  has(key: string): Promise<boolean>;
}

export class MemoryEdgeCache implements EdgeCache {
  private readonly lru: LRUCache<string, CachedResponse>;

  constructor(maxBytes = 512 * 1024 * 1024) {
    this.lru = new LRUCache({ maxSize: maxBytes, sizeCalculation: (v) => Math.max(1, v.body.byteLength), ttlAutopurge: false });
  }

  async get(key: string): Promise<CachedResponse | undefined> {
    return this.lru.get(key);
  }

  async put(key: string, value: CachedResponse, ttlSeconds?: number): Promise<void> {
    this.lru.set(key, value, ttlSeconds ? { ttl: ttlSeconds * 1000 } : {});
  }

  async has(key: string): Promise<boolean> {
    return this.lru.has(key);
  }
}

/** The Cache API (caches.default on Workers); keys become URLs on a private host. */
export class CacheApiEdgeCache implements EdgeCache {
  constructor(private readonly cache: Cache) {}

  private request(key: string): Request {
    return new Request(`https://edge-cache.invalid${key}`);
  }

  async get(key: string): Promise<CachedResponse | undefined> {
    const hit = await this.cache.match(this.request(key));
    if (!hit) return undefined;
    const headers: Record<string, string> = {};
    hit.headers.forEach((value, name) => (headers[name] = value));
    return { body: await hit.arrayBuffer(), headers };
  }

  async put(key: string, value: CachedResponse, ttlSeconds?: number): Promise<void> {
    const headers = { ...value.headers, ...(ttlSeconds ? { 'cache-control': `public, max-age=${ttlSeconds}` } : {}) };
    await this.cache.put(this.request(key), new Response(value.body, { headers }));
  }

  async has(key: string): Promise<boolean> {
    return (await this.cache.match(this.request(key))) !== undefined;
  }
}
