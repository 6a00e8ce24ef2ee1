import { ServiceUnavailableError } from '../errors.js';

/**
 * A circuit breaker per content: a file whose segments keep failing (each
 * failure already 3 attempts) stops being encoded for a while, so a broken
 * or hostile file cannot keep the workers busy. Open: encodes for it are
 * refused at once with 503 + Retry-After (cached segments are still served).
 * After the cool-down one trial encode is let through (half-open); success
 * closes the breaker, failure opens it again for twice as long.
 */

export interface BreakerSettings {
  /** Consecutive failed segments that open the breaker. */
  failuresToOpen: number;
  /** First cool-down; doubled on each failed trial up to maxOpenMs. */
  openMs: number;
  maxOpenMs: number;
}

interface Circuit {
  failures: number;
  openUntil: number;
  openMs: number;
  trialRunning: boolean;
}

export const DEFAULT_BREAKER: BreakerSettings = { failuresToOpen: 3, openMs: 30_000, maxOpenMs: 300_000 };

export class CircuitBreaker {
  private readonly circuits = new Map<string, Circuit>();

  constructor(
    private readonly settings: BreakerSettings = DEFAULT_BREAKER,
    private readonly now: () => number = Date.now,
  ) {}

  /** Fast refusal during the cool-down, before anything is queued (the trial itself goes through admit). */
  assertNotOpen(key: string): void {
    const circuit = this.circuits.get(key);
    if (!circuit || circuit.failures < this.settings.failuresToOpen) return;
    const wait = circuit.openUntil - this.now();
    if (wait > 0) throw new ServiceUnavailableError('this content keeps failing to encode; encodes for it are paused', wait / 1000);
  }

  /** Throws ServiceUnavailableError while `key` may not be encoded; after the cool-down, lets one trial through. */
  admit(key: string): void {
    this.assertNotOpen(key);
    const circuit = this.circuits.get(key);
    if (!circuit || circuit.failures < this.settings.failuresToOpen) return;
    if (circuit.trialRunning) throw new ServiceUnavailableError('this content keeps failing to encode; a trial encode is running', 1);
    circuit.trialRunning = true;
  }

  /** An admitted encode ended for a reason that says nothing about the content (shed, shutdown). */
  abandoned(key: string): void {
    const circuit = this.circuits.get(key);
    if (circuit) circuit.trialRunning = false;
  }

  succeeded(key: string): void {
    this.circuits.delete(key);
  }

  failed(key: string): void {
    const circuit = this.circuits.get(key) ?? { failures: 0, openUntil: 0, openMs: 0, trialRunning: false };
    circuit.failures++;
    if (circuit.failures >= this.settings.failuresToOpen) {
      circuit.openMs = circuit.trialRunning ? Math.min(this.settings.maxOpenMs, circuit.openMs * 2) : this.settings.openMs;
      circuit.openUntil = this.now() + circuit.openMs;
    }
    circuit.trialRunning = false;
    this.circuits.set(key, circuit);
  }
}
