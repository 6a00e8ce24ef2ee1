import { mkdir, mkdtemp, readFile, readdir, rm, stat, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from './atomic.js';

/**
 * The on-disk layout, as in the design:
 *
 *   {cache}/{hash}/metadata.json      what the source is (path, size, probe summary)
 *   {cache}/{hash}/probe.json         the full probe result
 *   {cache}/{hash}/first-frame-decoded   the fingerprint of the probe whose first frame decoded (library/first-frame-records.ts)
 *   {cache}/{hash}/audio-index-{N}.bin  where each frame of audio track N starts, in samples (coarse clocks only, transcode/sample-index.ts)
 *   {cache}/{hash}/video/{rendition}/init.mp4, segment_N.m4s
 *   {cache}/{hash}/audio/{rendition}/init.mp4, segment_N.m4s
 *   {cache}/{hash}/logs/{kind}-{rendition}-{N}.log   ffmpeg/packager output of a failed encode
 *   {cache}/tmp/job-{host}-{pid}-…    work directories of running encodes (of every instance sharing the directory)
 *
 * Rendition ids carry a hash of every setting that changes their bytes, so a
 * config change writes new files and never serves old ones.
 */
export type MediaKind = 'video' | 'audio';

const HASH_PATTERN = /^[0-9a-f]{64}$/;
/** Work directories not known to be a live process's, and older than this at start-up, are leftovers of a crash. */
const STALE_WORK_DIR_MS = 10 * 60_000;
/** job-{host}-{pid}-{mkdtemp suffix}: whose encode a work directory belongs to. */
const WORK_DIR = /^job-(.+)-(\d+)-[A-Za-z0-9]{6}$/;
/** Work directories this process has open (several stores of one process may share a cache directory). */
const ownWorkDirs = new Set<string>();

export class ContentStore {
  private readonly host = os.hostname().replace(/[^A-Za-z0-9.-]/g, '_');

  constructor(readonly root: string) {}

  async init(): Promise<void> {
    const tmp = path.join(this.root, 'tmp');
    await mkdir(tmp, { recursive: true });
    // Work directories left by a crash (kill -9) hold only partial output. Those of a process of
    // this host that no longer runs go whatever their age; another host's (a shared volume) or
    // an unnamed one only when old, since it may be a running encode there.
    const cutoff = Date.now() - STALE_WORK_DIR_MS;
    for (const name of await readdir(tmp)) {
      const dir = path.join(tmp, name);
      const owner = WORK_DIR.exec(name);
      const orphan = owner !== null && owner[1] === this.host && !processRuns(Number(owner[2])) && !ownWorkDirs.has(dir);
      if (!orphan) {
        const info = await stat(dir).catch(() => undefined);
        if (!info || info.mtimeMs >= cutoff) continue;
      }
      await rm(dir, { recursive: true, force: true });
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

  /** Durable and atomic (see writeFileAtomic); a full disk is a StorageFullError. */
  async write(filePath: string, data: string | Uint8Array): Promise<void> {
    await writeFileAtomic(filePath, data);
  }

  /** Writes the file only if it does not exist yet; false when another writer's is there. */
  create(filePath: string, data: string | Uint8Array): Promise<boolean> {
    return writeFileAtomic(filePath, data, { exclusive: true });
  }

  remove(filePath: string): Promise<void> {
    return rm(filePath, { force: true });
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
  async makeWorkDir(): Promise<string> {
    const dir = await mkdtemp(path.join(this.root, 'tmp', `job-${this.host}-${process.pid}-`));
    ownWorkDirs.add(dir);
    return dir;
  }

  async removeWorkDir(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
    ownWorkDirs.delete(dir);
  }
}

/** Whether a process of this host with this id runs (this one's own directories are told apart by ownWorkDirs: a restarted container may reuse the pid). */
function processRuns(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
