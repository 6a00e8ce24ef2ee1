/**
 * A fixed-window request budget per client: `limit` requests per window,
 * then refusals until the window ends. In memory, per instance; the clients
 * tracked are bounded (the oldest windows are dropped first).
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly maxClients = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `client` may make one more request now; seconds until it may when not. */
  take(client: string): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const now = this.now();
    let window = this.windows.get(client);
    if (!window || now - window.start >= this.windowMs) {
      this.windows.delete(client);
      window = { start: now, count: 0 };
      this.windows.set(client, window);
      if (this.windows.size > this.maxClients) this.windows.delete(this.windows.keys().next().value!);
    }
    if (window.count >= this.limit) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000)) };
    window.count++;
    return { allowed: true };
  }
}
