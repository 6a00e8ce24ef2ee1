import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';

/**
 * Content identity: a SHA-256 over the bytes of a source.
 *
 * "full" hashes every byte (minutes for a multi-GB file). "sampled", the
 * default, hashes the size plus 32 evenly spread 64 KiB regions (always the
 * first and the last), so the first request for a 50 GB file answers in
 * milliseconds. The trade-off: two files of equal size that differ only
 * outside the sampled regions get one id. Files up to 2 MiB are hashed whole
 * in both modes, so their id is their plain SHA-256.
 */
export type HashMode = 'sampled' | 'full';

const REGION_BYTES = 64 * 1024;
const REGIONS = 32;
const WHOLE_FILE_LIMIT = REGION_BYTES * REGIONS;

async function hashWholeFile(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function hashSampled(filePath: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`jitseg-sampled-v1:${size}:`);
  const handle = await open(filePath, 'r');
  try {
    // Every region read at once (the reads are independent; the thread pool overlaps them), hashed in order.
    const buffer = Buffer.allocUnsafe(REGION_BYTES * REGIONS);
    const lastStart = size - REGION_BYTES;
    const reads = await Promise.all(
      Array.from({ length: REGIONS }, (_, i) => handle.read(buffer, i * REGION_BYTES, REGION_BYTES, Math.floor((lastStart * i) / (REGIONS - 1)))),
    );
    reads.forEach(({ bytesRead }, i) => hash.update(buffer.subarray(i * REGION_BYTES, i * REGION_BYTES + bytesRead)));
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

export async function contentHash(filePath: string, size: number, mode: HashMode): Promise<string> {
  return mode === 'full' || size <= WHOLE_FILE_LIMIT ? hashWholeFile(filePath) : hashSampled(filePath, size);
}

interface IndexEntry {
  size: number;
  mtimeMs: number;
  mode: HashMode;
  hash: string;
}

/**
 * Persisted (path, size, mtime) → hash, so each file is hashed once across
 * restarts. The index file is written after the answer, not before it:
 * identify() returns as soon as the hash is known, and flush() waits for the
 * index to be on disk (a lost write costs one re-hash after a restart, never
 * a wrong id).
 */
export class ContentIdIndex {
  private entries = new Map<string, IndexEntry>();
  /** The running save (it loops while entries change under it), if any. */
  private saving: Promise<void> | undefined;
  private dirty = false;
  private readonly file: string;

  constructor(cacheDir: string) {
    this.file = path.join(cacheDir, 'index', 'content-ids.json');
  }

  async load(): Promise<void> {
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, IndexEntry>;
      this.entries = new Map(Object.entries(parsed));
    } catch {
      this.entries = new Map();
    }
  }

  /** The hash already known for this version of the file, without reading it. */
  lookup(absolutePath: string, size: number, mtimeMs: number, mode: HashMode): string | undefined {
    const known = this.entries.get(absolutePath);
    return known && known.size === size && known.mtimeMs === mtimeMs && known.mode === mode ? known.hash : undefined;
  }

  async identify(absolutePath: string, size: number, mtimeMs: number, mode: HashMode): Promise<string> {
    const known = this.lookup(absolutePath, size, mtimeMs, mode);
    if (known) return known;
    const hash = await contentHash(absolutePath, size, mode);
    this.entries.set(absolutePath, { size, mtimeMs, mode, hash });
    this.scheduleSave();
    return hash;
  }

  /** Resolves once every entry identified so far is on disk (or its write failed: the index is only a cache). */
  flush(): Promise<void> {
    return this.saving ?? Promise.resolve();
  }

  private scheduleSave(): void {
    this.dirty = true;
    if (this.saving) return; // the running save writes again when it is done
    this.saving = (async () => {
      // After the current request's answer has gone out.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.dirty) {
        this.dirty = false;
        await writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.entries))).catch(() => undefined);
      }
      this.saving = undefined;
    })();
  }
}
