import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readFile, type FileHandle } from 'node:fs/promises';
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

/**
 * What says a file is still the one that was hashed: the inode it is (device
 * and inode number: a file renamed over it, or a symlink put in its place, is
 * another inode) and that inode's size and times (ctime changes on every
 * write, even one whose mtime is then set back).
 */
export interface SourceStamp {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

export function stampOf(info: Stats): SourceStamp {
  return { dev: info.dev, ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs };
}

export function sameStamp(a: SourceStamp, b: SourceStamp): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

/** Reads through the open file (never its path again), so the hash is of the inode the caller stamped. */
async function hashWholeFile(handle: FileHandle): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

async function hashSampled(handle: FileHandle, size: number): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`jitseg-sampled-v1:${size}:`);
  // Every region read at once (the reads are independent; the thread pool overlaps them), hashed in order.
  const buffer = Buffer.allocUnsafe(REGION_BYTES * REGIONS);
  const lastStart = size - REGION_BYTES;
  const reads = await Promise.all(
    Array.from({ length: REGIONS }, (_, i) => handle.read(buffer, i * REGION_BYTES, REGION_BYTES, Math.floor((lastStart * i) / (REGIONS - 1)))),
  );
  reads.forEach(({ bytesRead }, i) => hash.update(buffer.subarray(i * REGION_BYTES, i * REGION_BYTES + bytesRead)));
  return hash.digest('hex');
}

/** The content id of an open file of `size` bytes (the caller keeps the handle open and closes it). */
export async function contentHash(handle: FileHandle, size: number, mode: HashMode): Promise<string> {
  return mode === 'full' || size <= WHOLE_FILE_LIMIT ? hashWholeFile(handle) : hashSampled(handle, size);
}

/** The file was written to while it was being hashed. */
export class SourceChangedWhileHashing extends Error {
  override name = 'SourceChangedWhileHashing';
  constructor(readonly absolutePath: string) {
    super('the file changed while it was being hashed');
  }
}

interface IndexEntry extends SourceStamp {
  mode: HashMode;
  hash: string;
}

/**
 * Persisted (path, stamp) → hash, so each file is hashed once across
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

  /** The hash already known for this version of the file (same inode, size and times), without reading it. */
  lookup(absolutePath: string, stamp: SourceStamp, mode: HashMode): string | undefined {
    const known = this.entries.get(absolutePath);
    // A version hashed whole serves either mode: every byte is stricter than the samples.
    return known && (known.mode === mode || known.mode === 'full') && sameStamp(known, stamp) ? known.hash : undefined;
  }

  /** The hash last identified for this path, and the file version it was identified for. */
  last(absolutePath: string): (SourceStamp & { hash: string }) | undefined {
    return this.entries.get(absolutePath);
  }

  /** Whether this version of the file was identified by all its bytes (see identify). */
  hashedWhole(absolutePath: string, stamp: SourceStamp): boolean {
    const known = this.entries.get(absolutePath);
    return known !== undefined && sameStamp(known, stamp) && (known.mode === 'full' || known.size <= WHOLE_FILE_LIMIT);
  }

  /**
   * The hash of the open file `handle` (found at `absolutePath` with `stamp`).
   * The file is re-stamped after hashing: one written to meanwhile is refused
   * (its hash would be of neither version).
   */
  async identify(absolutePath: string, handle: FileHandle, stamp: SourceStamp, mode: HashMode): Promise<string> {
    const known = this.lookup(absolutePath, stamp, mode);
    if (known) return known;
    const hash = await contentHash(handle, stamp.size, mode);
    if (!sameStamp(stampOf(await handle.stat()), stamp)) throw new SourceChangedWhileHashing(absolutePath);
    this.entries.set(absolutePath, { ...stamp, mode, hash });
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
