import { mkdir, mkdtemp, readFile, readdir, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';

/**
 * The on-disk layout, as in the design:
 *
 *   {cache}/{hash}/metadata.json      what the source is (path, size, probe summary)
 *   {cache}/{hash}/probe.json         the full probe result
 *   {cache}/{hash}/video/{rendition}/init.mp4, segment_N.m4s
 *   {cache}/{hash}/audio/{rendition}/init.mp4, segment_N.m4s
 *   {cache}/{hash}/logs/{kind}-{rendition}-{N}.log   ffmpeg/packager output of a failed encode
 *   {cache}/tmp/…                     work directories of running encodes (of every instance sharing the directory)
 *
 * Rendition ids carry a hash of every setting that changes their bytes, so a
 * config change writes new files and never serves old ones.
 */
export type MediaKind = 'video' | 'audio';

const HASH_PATTERN = /^[0-9a-f]{64}$/;
/** Work directories older than this at start-up are leftovers of a crash. */
const STALE_WORK_DIR_MS = 10 * 60_000;

export class ContentStore {
  constructor(readonly root: string) {}

  async init(): Promise<void> {
    const tmp = path.join(this.root, 'tmp');
    await mkdir(tmp, { recursive: true });
    // Work directories left by a crash hold only partial output. Recent ones may belong to another
    // instance sharing this directory (an encode takes seconds), so only old ones go.
    const cutoff = Date.now() - STALE_WORK_DIR_MS;
    for (const name of await readdir(tmp)) {
      const dir = path.join(tmp, name);
      const info = await stat(dir).catch(() => undefined);
      if (info && info.mtimeMs < cutoff) await rm(dir, { recursive: true, force: true });
    }
  }

  contentDir(hash: string): string {
    if (!HASH_PATTERN.test(hash)) throw new Error(`not a content hash: ${hash}`);
    return path.join(this.root, hash);
  }

  mediaPath(hash: string, kind: MediaKind, renditionId: string, fileName: string): string {
    return path.join(this.contentDir(hash), kind, renditionId, fileName);
  }

  /** Where the tool output of a failed encode is kept. */
  logPath(hash: string, kind: MediaKind, renditionId: string, number: number): string {
    return path.join(this.contentDir(hash), 'logs', `${kind}-${renditionId}-${number}.log`);
  }

  async read(filePath: string): Promise<Buffer | undefined> {
    try {
      return await readFile(filePath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  write(filePath: string, data: string | Uint8Array): Promise<void> {
    return writeFileAtomic(filePath, data);
  }

  async readJson<T>(hash: string, name: string): Promise<T | undefined> {
    const bytes = await this.read(path.join(this.contentDir(hash), name));
    return bytes ? (JSON.parse(bytes.toString('utf8')) as T) : undefined;
  }

  writeJson(hash: string, name: string, value: unknown): Promise<void> {
    return this.write(path.join(this.contentDir(hash), name), JSON.stringify(value));
  }

  /** Hashes of every content with metadata on disk. */
  async listContent(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    return names.filter((n) => HASH_PATTERN.test(n));
  }

  /** Bytes free for us on the cache's file system (undefined when it cannot tell). */
  async freeBytes(): Promise<number | undefined> {
    try {
      const fs = await statfs(this.root);
      return fs.bavail * fs.bsize;
    } catch {
      return undefined;
    }
  }

  /** A fresh directory for one encode; the caller removes it. */
  makeWorkDir(): Promise<string> {
    return mkdtemp(path.join(this.root, 'tmp', 'job-'));
  }

  removeWorkDir(dir: string): Promise<void> {
    return rm(dir, { recursive: true, force: true });
  }
}
