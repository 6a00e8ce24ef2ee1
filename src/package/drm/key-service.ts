import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { BadGatewayError } from '../../errors.js';
import type { ContentKeys, KeyLabel, KeySource, TrackKey } from './keys.js';

/**
 * Keys from an external key service (a CPIX-like JSON exchange). jitseg asks
 *
 *   POST {url}   Content-Type: application/json   [Authorization: Bearer {token}]
 *   {"content": "<64-hex content hash>", "labels": ["video", "audio"], "scheme": "cenc" | "cbcs"}
 *
 * and expects 200 with
 *
 *   {"keys": [{"label": "video", "kid": "<32 hex or UUID>", "key": "<32 hex>"},
 *             {"label": "audio", "kid": "…", "key": "…"}]}
 *
 * The service must answer the same pair for a content every time (the key id
 * is in init segments cached for a year). Answers are kept in memory (10,000
 * contents); a failure is not kept, and the request that needed it fails (502).
 */
export class ServiceKeySource implements KeySource {
  readonly tag: string;
  private readonly cache = new LRUCache<string, Promise<ContentKeys>>({ max: 10_000 });

  constructor(
    private readonly options: { url: string; token?: string; timeout_ms: number },
    private readonly scheme: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.tag = createHash('sha256').update(`service\n${options.url}`).digest('hex').slice(0, 8);
  }

  keysFor(hash: string): Promise<ContentKeys> {
    let keys = this.cache.get(hash);
    if (!keys) {
      keys = this.ask(hash);
      this.cache.set(hash, keys);
      keys.catch(() => this.cache.delete(hash));
    }
    return keys;
  }

  private async ask(hash: string): Promise<ContentKeys> {
    const response = await this.fetchImpl(this.options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) },
      body: JSON.stringify({ content: hash, labels: ['video', 'audio'], scheme: this.scheme }),
      signal: AbortSignal.timeout(this.options.timeout_ms),
    }).catch((err: Error) => {
      // fetch's own failures: unreachable (TypeError) or too slow (TimeoutError).
      if (err.name === 'TypeError' || err.name === 'TimeoutError') throw new KeyServiceError(`the key service could not be reached (${err.name})`);
      throw err;
    });
    // Never the body in an error: it may hold keys.
    if (response.status !== 200) throw new KeyServiceError(`the key service answered ${response.status}`);
    return parseKeys(await response.json());
  }
}

/** A 502 to the player whose request needed the keys (BadGatewayError). */
export class KeyServiceError extends BadGatewayError {
  override name = 'KeyServiceError';
}

const HEX16 = /^[0-9a-f]{32}$/;

/** The service's answer, checked; throws without quoting it. */
export function parseKeys(body: unknown): ContentKeys {
  const list = (body as { keys?: unknown })?.keys;
  if (!Array.isArray(list)) throw new KeyServiceError('the key service answer has no "keys" list');
  const found: Partial<Record<KeyLabel, TrackKey>> = {};
  for (const entry of list as Array<Record<string, unknown>>) {
    const label = entry?.label;
    if (label !== 'video' && label !== 'audio') continue;
    const kid = String(entry.kid ?? '').replace(/-/g, '').toLowerCase();
    const key = String(entry.key ?? '').toLowerCase();
    if (!HEX16.test(kid) || !HEX16.test(key)) throw new KeyServiceError(`the key service's ${label} entry is not 16-byte hex kid and key`);
    found[label] = { kid, key };
  }
  if (!found.video || !found.audio) throw new KeyServiceError('the key service answer lacks a video or an audio key');
  return { video: found.video, audio: found.audio };
}
