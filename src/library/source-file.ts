import { constants, existsSync } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { sameStamp, stampOf, type SourceStamp } from '../store/content-id.js';

/**
 * One identified source file: its real path and the stamp (inode, size,
 * times) it had when it was hashed. Checks whether the path still leads to
 * that very file, and lends it out pinned for the time of an encode.
 */

/** Errors that mean "this path no longer leads to a readable file"; anything else is a real I/O fault. */
const GONE_CODES = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EACCES', 'EPERM']);

export function isGoneError(err: unknown): boolean {
  return GONE_CODES.has((err as NodeJS.ErrnoException)?.code ?? '');
}

/**
 * Whether another process (ffmpeg) can open our descriptors through
 * /proc/<pid>/fd/<n>: that path leads to the file we opened, whatever
 * happens to its name afterwards.
 */
const PROC_FD = existsSync(`/proc/${process.pid}/fd`);

/** Opens a file for reading without following a symlink in its last component (a link put in its place fails: ELOOP). */
export function openNoFollow(absolutePath: string): Promise<FileHandle> {
  return open(absolutePath, constants.O_RDONLY | constants.O_NOFOLLOW);
}

/**
 * Where an open file really is (Linux: the kernel's name for it), or
 * undefined where the system cannot tell. A parent directory swapped for a
 * symlink between realpath() and open() shows here.
 */
export async function openedPath(handle: FileHandle): Promise<string | undefined> {
  return PROC_FD ? readlink(`/proc/self/fd/${handle.fd}`) : undefined;
}

export type Pinned<T> = { changed: false; value: T } | { changed: true };

export class SourceFile {
  constructor(
    /** The real path (no symlink in it) under the media root. */
    readonly absolutePath: string,
    readonly stamp: SourceStamp,
  ) {}

  /** Whether the path still leads, through no symlink, to the stamped file (one stat and one realpath). */
  async unchanged(): Promise<boolean> {
    try {
      const [real, info] = await Promise.all([realpath(this.absolutePath), stat(this.absolutePath)]);
      return real === this.absolutePath && info.isFile() && sameStamp(stampOf(info), this.stamp);
    } catch (err) {
      if (isGoneError(err)) return false;
      throw err;
    }
  }

  /**
   * Runs `work` on the open file (see Content.withSource). `changed` when the
   * file is not the stamped one before the work, or was written to during it
   * (the work's result is then dropped).
   */
  async pin<T>(work: (sourcePath: string) => Promise<T>): Promise<Pinned<T>> {
    let handle: FileHandle;
    try {
      handle = await openNoFollow(this.absolutePath);
    } catch (err) {
      if (isGoneError(err)) return { changed: true };
      throw err;
    }
    try {
      if (!(await this.isStampedFile(handle))) return { changed: true };
      let value: T;
      try {
        value = await work(PROC_FD ? `/proc/${process.pid}/fd/${handle.fd}` : this.absolutePath);
      } catch (err) {
        // A failure on a file that changed under the work says nothing about this content.
        if (await this.changedSince(handle)) return { changed: true };
        throw err;
      }
      return (await this.changedSince(handle)) ? { changed: true } : { changed: false, value };
    } finally {
      await handle.close();
    }
  }

  /** Written to (ctime moves on every write)? Without /proc the work read by name: the name must still lead here too. */
  private async changedSince(handle: FileHandle): Promise<boolean> {
    return !sameStamp(stampOf(await handle.stat()), this.stamp) || (!PROC_FD && !(await this.unchanged()));
  }

  private async isStampedFile(handle: FileHandle): Promise<boolean> {
    if (!sameStamp(stampOf(await handle.stat()), this.stamp)) return false;
    const where = await openedPath(handle);
    return where === undefined ? this.unchanged() : where === this.absolutePath;
  }
}
