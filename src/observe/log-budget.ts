/**
 * One byte budget for text kept by many owners (the session logs): entries
 * are kept in the order they came, and when the total is over the budget the
 * oldest entries go, whoever owns them. An owner may also drop its own
 * entries (its per-owner cap); those are skipped when they reach the front.
 */

export interface LogEntry {
  readonly owner: string;
  readonly text: string;
  readonly bytes: number;
  /** False once dropped by its owner or evicted. */
  live: boolean;
}

const CUT_MARKER = '[… earlier output cut]\n';

export class LogBudget {
  /** Every entry still live, oldest first, plus dropped ones not yet swept out. */
  private queue: LogEntry[] = [];
  private head = 0;
  private dead = 0;
  private liveBytes = 0;
  private liveEntries = 0;

  constructor(
    private readonly maxBytes: number,
    /** Told of each entry evicted for the budget (oldest first), so its owner forgets it. */
    private readonly onEvict: (entry: LogEntry) => void,
  ) {
    if (!(maxBytes > CUT_MARKER.length)) throw new Error(`a log budget of ${maxBytes} bytes cannot hold anything`);
  }

  get bytes(): number {
    return this.liveBytes;
  }

  get entries(): number {
    return this.liveEntries;
  }

  /** Entries the queue holds, dropped ones not yet swept out included (bounded by about twice the live ones). */
  get held(): number {
    return this.queue.length - this.head;
  }

  /** Keeps `header` + the end of `body` (cut to `maxEntryBytes` and the whole budget), evicting the oldest entries for room. */
  add(owner: string, header: string, body: string, maxEntryBytes: number): LogEntry {
    const text = fit(header, body, Math.min(maxEntryBytes, this.maxBytes));
    const entry: LogEntry = { owner, text, bytes: Buffer.byteLength(text), live: true };
    this.queue.push(entry);
    this.liveBytes += entry.bytes;
    this.liveEntries++;
    while (this.liveBytes > this.maxBytes) {
      const oldest = this.queue[this.head++]!;
      if (!oldest.live) {
        this.dead--;
        continue;
      }
      this.kill(oldest);
      this.onEvict(oldest);
    }
    this.compact();
    return entry;
  }

  /** Its owner let go of an entry. */
  drop(entry: LogEntry): void {
    if (!entry.live) return;
    this.kill(entry);
    this.dead++;
    this.compact();
  }

  private kill(entry: LogEntry): void {
    entry.live = false;
    this.liveBytes -= entry.bytes;
    this.liveEntries--;
  }

  /** Sweeps out what is behind the head and dropped entries, once they outnumber the live ones. */
  private compact(): void {
    if (this.head + this.dead <= Math.max(1024, this.liveEntries)) return;
    this.queue = this.queue.slice(this.head).filter((e) => e.live);
    this.head = 0;
    this.dead = 0;
  }
}

/** `header` + `body` + newline in at most `max` bytes: the end of the body is kept (where the errors are). */
function fit(header: string, body: string, max: number): string {
  const whole = `${header}${body}\n`;
  if (Buffer.byteLength(whole) <= max) return whole;
  const prefix = `${header}${CUT_MARKER}`;
  const room = max - Buffer.byteLength(prefix) - 1;
  if (room <= 0) return trimToBytes(prefix, max);
  // A cut through a multi-byte character decodes as U+FFFD: drop it.
  let tail = Buffer.from(body).subarray(-room).toString('utf8').replace(/^\uFFFD+/, '');
  while (Buffer.byteLength(tail) > room) tail = tail.slice(1);
  return `${prefix}${tail}\n`;
}

function trimToBytes(text: string, max: number): string {
  let out = text;
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}
