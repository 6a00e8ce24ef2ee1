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
    const buffer = Buffer.alloc(REGION_BYTES);
    const lastStart = size - REGION_BYTES;
    for (let i = 0; i < REGIONS; i++) {
      const position = Math.floor((lastStart * i) / (REGIONS - 1));
      const { bytesRead } = await handle.read(buffer, 0, REGION_BYTES, position);
      hash.update(buffer.subarray(0, bytesRead));
    }
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

/** Persisted (path, size, mtime) → hash, so each file is hashed once across restarts. */
export class ContentIdIndex {
  private entries = new Map<string, IndexEntry>();
  private saving: Promise<void> = Promise.resolve();
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

  async identify(absolutePath: string, size: number, mtimeMs: number, mode: HashMode): Promise<string> {
    const known = this.entries.get(absolutePath);
    if (known && known.size === size && known.mtimeMs === mtimeMs && known.mode === mode) return known.hash;
    const hash = await contentHash(absolutePath, size, mode);
    this.entries.set(absolutePath, { size, mtimeMs, mode, hash });
    this.saving = this.saving.then(() => writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.entries)))).catch(() => undefined);
    await this.saving;
    return hash;
  }
}
