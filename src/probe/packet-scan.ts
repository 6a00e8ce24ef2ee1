/**
 * The video packets of an ffprobe packet scan (`-show_entries
 * packet=pts,dts,duration,flags -of compact`), parsed as its output streams
 * in: a long file prints hundreds of megabytes, which are never held whole.
 * Times go to growable typed arrays, and past PROBE_LIMITS.maxFrames nothing
 * more is kept (the file is refused once the scan ends).
 */
import { PROBE_LIMITS } from './limits.js';

class GrowableTimes {
  private values = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  /** Sorted, duplicates dropped (the packets' order is decode order). */
  sortedUnique(): number[] {
    const sorted = this.values.slice(0, this.length);
    // Decode order is presentation order but for B-frames a few places apart: insertion sorts it in O(n).
    if (!insertionSort(sorted, 64 * sorted.length + 1024)) sorted.sort();
    let unique = 0;
    for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) unique++;
    // Doubles from the start (not grown by push, which is slow for 170,000 values).
    const out = new Array<number>(unique).fill(0.5);
    for (let i = 0, k = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) out[k++] = sorted[i]!;
    return out;
  }

  /** The values whose index passes `keep`, sorted, duplicates dropped. */
  filtered(keep: (index: number) => boolean): number[] {
    const kept = new GrowableTimes();
    for (let i = 0; i < this.length; i++) if (keep(i)) kept.push(this.values[i]!);
    return kept.sortedUnique();
  }
}

/**
 * Sorts `a` in place by insertion while that moves at most `budget` elements;
 * false when it gives up (`a` is then a permutation of its values, for a
 * native sort to finish).
 */
function insertionSort(a: Float64Array, budget: number): boolean {
  let moves = 0;
  for (let i = 1; i < a.length; i++) {
    const v = a[i]!;
    let j = i - 1;
    if (a[j]! <= v) continue;
    while (j >= 0 && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
    moves += i - 1 - j;
    if (moves > budget) return false;
  }
  return true;
}

export class PacketScan {
  readonly all = new GrowableTimes();
  readonly keys = new GrowableTimes();
  /** Packets seen, kept or not. */
  packets = 0;
  lastPts = -Infinity;
  lastDuration: number | undefined;
  private pending = '';

  /** `tickMultiplier`: the time_base numerator (ticks = value × num). */
  constructor(private readonly tickMultiplier: number) {}

  get overflowed(): boolean {
    return this.packets > PROBE_LIMITS.maxFrames;
  }

  push(chunk: Uint8Array): void {
    this.pending += Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    const end = this.pending.lastIndexOf('\n');
    if (end < 0) return;
    const lines = this.pending.slice(0, end);
    this.pending = this.pending.slice(end + 1);
    for (const line of lines.split('\n')) this.onLine(line);
  }

  end(): void {
    if (this.pending) this.onLine(this.pending);
    this.pending = '';
  }

  private onLine(line: string): void {
    // Other sections (packet side data) are printed on their own lines.
    if (!line.startsWith('packet|')) return;
    const f = parseCompactLine(line);
    const flags = f.flags ?? '';
    if (flags.includes('D')) return; // discarded by the demuxer: never presented
    // Packets without pts (AVI, some raw streams) are presented at their dts.
    const raw = toInt(f.pts) ?? toInt(f.dts);
    if (raw === undefined) return;
    this.add(raw, flags.includes('K'), toInt(f.duration));
  }

  /** One presented packet, in the stream's time_base units (also fed by the Matroska scan, matroska/video-scan.ts). */
  add(rawPts: number, key: boolean, rawDuration: number | undefined): void {
    if (++this.packets > PROBE_LIMITS.maxFrames) return;
    const pts = rawPts * this.tickMultiplier;
    this.all.push(pts);
    if (key) this.keys.push(pts);
    if (pts >= this.lastPts) {
      this.lastPts = pts;
      this.lastDuration = rawDuration !== undefined && rawDuration > 0 ? rawDuration * this.tickMultiplier : undefined;
    }
  }
}

function parseCompactLine(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of line.split('|')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

function toInt(v: string | undefined): number | undefined {
  if (v === undefined || v === 'N/A' || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}
