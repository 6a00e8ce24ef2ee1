/**
 * The origins behind the edge: rendezvous (highest-random-weight) hashing
 * by content hash, so each content goes to the same origin and keeps its
 * cache hot, and when that origin is down its contents spread over the
 * others. Origins that fail a request or a health check go to the back of
 * the order until they answer again.
 */

export interface OriginState {
  url: string;
  healthy: boolean;
  lastCheck?: string;
}

/** FNV-1a, 32 bits: a fast, stable score; cryptographic strength is not needed. */
function score(origin: string, key: string): number {
  let h = 0x811c9dc5;
  const text = `${origin}\u0000${key}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export class OriginPool {
  private readonly states: OriginState[];

  constructor(urls: string[]) {
    if (urls.length === 0) throw new Error('the edge needs at least one origin');
    this.states = urls.map((url) => ({ url: url.replace(/\/+$/, ''), healthy: true }));
  }

  /** Origins to try for `key`, best first: healthy ones by score, then the others (better than nothing). */
  order(key: string): string[] {
    const ranked = [...this.states].sort((a, b) => score(b.url, key) - score(a.url, key));
    return [...ranked.filter((s) => s.healthy), ...ranked.filter((s) => !s.healthy)].map((s) => s.url);
  }

  mark(url: string, healthy: boolean): void {
    const state = this.states.find((s) => s.url === url);
    if (state) {
      state.healthy = healthy;
      state.lastCheck = new Date().toISOString();
    }
  }

  /** One health check of every origin (GET /healthz). */
  async check(fetchImpl: typeof fetch, timeoutMs = 2000): Promise<void> {
    await Promise.all(
      this.states.map(async (s) => {
        try {
          const response = await fetchImpl(`${s.url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
          await response.arrayBuffer();
          this.mark(s.url, response.ok);
        } catch {
          this.mark(s.url, false);
        }
      }),
    );
  }

  report(): OriginState[] {
    return this.states.map((s) => ({ ...s }));
  }
}
