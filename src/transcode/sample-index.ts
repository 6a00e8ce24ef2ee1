import { stat } from 'node:fs/promises';
import { run } from '../process/runner.js';
import { sourceInput } from '../process/source-input.js';

/**
 * Where each decoded frame of an audio track starts, in samples, exactly as a
 * decode of the whole track in one pass places it: frame n starts where frame
 * n − 1 ended. A container that counts milliseconds (Matroska, WebM, FLV)
 * stamps a packet within ±0.5 ms (±24 samples at 48 kHz) of that place, and
 * for codecs with frames of varying length (Vorbis) no local rule recovers
 * it: only counting every frame's samples from the start does. One
 * audio-only decode of the track (ffprobe: about 0.4 CPU-s per 10 minutes
 * of stereo Vorbis, 0.8 of Opus, measured) counts them; a span then looks its first
 * frame up by the time the demuxer gave it.
 */
export class SampleIndex {
  constructor(
    /** Frame times in samples as ffmpeg's CLI rescales packet times (round half away from zero), ascending. */
    private readonly keys: Float64Array,
    /** Where each of those frames starts in the one-pass decode, in samples on the source timeline. */
    private readonly positions: Float64Array,
    /** How many samples each of those frames holds. */
    private readonly sizes: Float64Array,
  ) {}

  get frames(): number {
    return this.keys.length;
  }

  /** The index as stored beside the probe: a format tag, the frame count, then the three arrays. */
  toBytes(): Uint8Array {
    const n = this.keys.length;
    const out = new Float64Array(2 + 3 * n);
    out[0] = STORED_FORMAT;
    out[1] = n;
    out.set(this.keys, 2);
    out.set(this.positions, 2 + n);
    out.set(this.sizes, 2 + 2 * n);
    return new Uint8Array(out.buffer);
  }

  /** Undefined for bytes that are not an index in this format (an older format, a torn write). */
  static fromBytes(bytes: Uint8Array): SampleIndex | undefined {
    if (bytes.byteLength < 16 || bytes.byteLength % 8 !== 0) return undefined;
    const all = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const n = all[1]!;
    if (all[0] !== STORED_FORMAT || !Number.isInteger(n) || all.length !== 2 + 3 * n) return undefined;
    return new SampleIndex(all.subarray(2, 2 + n), all.subarray(2 + n, 2 + 2 * n), all.subarray(2 + 2 * n));
  }

  /**
   * The one-pass position of a decoded frame stamped `key` samples and holding
   * `samples`: a whole frame of the index, or the end of one whose start the
   * decoder dropped after a seek (Opus pre-skip: Matroska's decoder skips the
   * codec delay again and moves the time by it, rounded to the clock).
   * Undefined when no frame of the index fits.
   */
  positionOf(key: number, samples: number): number | undefined {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    const at = lo - 1;
    if (at < 0) return undefined;
    const skipped = this.sizes[at]! - samples;
    if (skipped < 0 || Math.abs(key - this.keys[at]! - skipped) > this.sizes[at]! / 2) return undefined;
    return this.positions[at]! + skipped;
  }
}

/** Changes with the stored layout (or with what the index means), so an older file is counted again. */
const STORED_FORMAT = 1;

const roundHalfAway = (value: number) => Math.sign(value) * Math.floor(Math.abs(value) + 0.5);

/**
 * Builds the index from ffprobe's `pts_time,nb_samples` lines (pts_time has
 * six decimals: exact for a millisecond clock). `tickSamples`: the clock's
 * tick in samples. A frame stamped more than a tick away from where the count
 * puts it follows its stamp instead (a gap or an overlap in the recording, not
 * rounding), as ffmpeg's own decoding does, so A/V sync holds after it.
 */
export function parseSampleIndex(csv: string, sampleRate: number, tickSamples: number): SampleIndex {
  const keys: number[] = [];
  const positions: number[] = [];
  const sizes: number[] = [];
  let position: number | undefined;
  for (const line of csv.split('\n')) {
    const match = /^([^,]*),(\d+)/.exec(line.trim());
    if (!match) continue;
    const time = match[1] === '' || match[1] === 'N/A' ? NaN : Number(match[1]);
    if (!Number.isFinite(time)) {
      // A frame without a time still holds samples.
      if (position !== undefined) position += Number(match[2]);
      continue;
    }
    const key = roundHalfAway(time * sampleRate);
    // The first frame's own time anchors the count (it is the track's first decoded sample).
    if (position === undefined || Math.abs(key - position) > tickSamples) position = key;
    // A frame stamped at or before the previous one cannot be looked up by its time; it still counts its samples.
    if (keys.length === 0 || key > keys.at(-1)!) {
      keys.push(key);
      positions.push(position);
      sizes.push(Number(match[2]));
    }
    position += Number(match[2]);
  }
  return new SampleIndex(Float64Array.from(keys), Float64Array.from(positions), Float64Array.from(sizes));
}

/** Most recent indexes by (source, track); an index is 24 bytes per frame (~8.6 MB for two hours of Opus). */
const MAX_CACHED = 8;
const cache = new Map<string, Promise<SampleIndex>>();

/** Where an index is kept between runs (beside the probe); a save the disk cannot take is dropped, the index is then counted again. */
export interface SampleIndexStorage {
  load(): Promise<Uint8Array | undefined>;
  save(bytes: Uint8Array): Promise<void>;
  /** Hears of a scan started in the background (by a first span) that failed; the next span that needs it runs it again. */
  scanFailed?(err: unknown): void;
}

export async function sampleIndex(sourcePath: string, trackIndex: number, sampleRate: number, storage?: SampleIndexStorage): Promise<SampleIndex> {
  // The file's version is part of the key: a replaced file is counted again.
  const { size, mtimeMs } = await stat(sourcePath);
  const key = `${trackIndex}:${sampleRate}:${size}:${mtimeMs}:${sourcePath}`;
  const cached = cache.get(key);
  if (cached) {
    cache.delete(key);
    cache.set(key, cached);
    return cached;
  }
  const building = storedOrBuilt(sourcePath, trackIndex, sampleRate, storage);
  cache.set(key, building);
  // A failed scan is not remembered: the next span tries again.
  building.catch(() => cache.delete(key));
  while (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
  return building;
}

async function storedOrBuilt(sourcePath: string, trackIndex: number, sampleRate: number, storage: SampleIndexStorage | undefined): Promise<SampleIndex> {
  const stored = await storage?.load();
  const parsed = stored && SampleIndex.fromBytes(stored);
  if (parsed) {
    kept.add(parsed);
    return parsed;
  }
  return buildSampleIndex(sourcePath, trackIndex, sampleRate);
}

/** Indexes already in (or read from) storage. */
const kept = new WeakSet<SampleIndex>();

/**
 * Stores an index once. Only a span's encode does this, never a scan left
 * running on its own, so nothing writes into the cache after the encodes are done.
 */
export async function keepSampleIndex(index: SampleIndex, storage: SampleIndexStorage | undefined): Promise<void> {
  if (!storage || kept.has(index)) return;
  kept.add(index);
  await storage.save(index.toBytes());
}

async function buildSampleIndex(sourcePath: string, trackIndex: number, sampleRate: number): Promise<SampleIndex> {
  const args = [
    '-v', 'error', '-select_streams', `a:${trackIndex}`, '-show_frames', '-show_entries', 'frame=pts_time,nb_samples:stream=time_base', '-of', 'csv=p=0',
    ...sourceInput(sourcePath),
  ];
  const { stdout } = await run('ffprobe', args, { timeoutMs: 600_000 });
  const text = Buffer.from(stdout).toString('utf8');
  const [num, den] = (/^(\d+)\/(\d+)\s*$/m.exec(text) ?? []).slice(1).map(Number);
  return parseSampleIndex(text, sampleRate, num && den ? (sampleRate * num) / den : sampleRate / 1000);
}
