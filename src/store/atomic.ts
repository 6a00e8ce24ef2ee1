import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { StorageFullError } from '../errors.js';

/**
 * Writes to a temporary name in the same directory, fsyncs it, renames it
 * into place and fsyncs the directory (and the parents of any directory it
 * had to create): readers see the old file or the whole
 * new one, never a part, and once this resolves the file survives a power
 * loss (so nothing is announced or indexed that a crash could tear).
 *
 * `exclusive` creates the file only if it does not exist yet (link(2) of the
 * finished temporary file: one writer wins, atomically); it resolves false for
 * the losers, who read the winner's file instead.
 *
 * A full disk (ENOSPC, EDQUOT) is thrown as StorageFullError, a 503.
 */
export async function writeFileAtomic(filePath: string, data: string | Uint8Array, options: { exclusive?: boolean } = {}): Promise<boolean> {
  const dir = path.dirname(filePath);
  const temp = `${filePath}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const created = await mkdir(dir, { recursive: true });
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.exclusive) {
      try {
        await link(temp, filePath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        return false;
      } finally {
        await rm(temp, { force: true });
      }
    } else {
      await rename(temp, filePath);
    }
    await syncDirectory(dir);
    // Directories made for this file: each one's entry in its parent must survive too, or the file goes with it.
    if (created) {
      const top = path.dirname(path.resolve(created));
      for (let d = path.resolve(dir); d !== top && d !== path.dirname(d); d = path.dirname(d)) await syncDirectory(path.dirname(d));
    }
    return true;
  } catch (err) {
    await rm(temp, { force: true });
    throw asStorageError(err);
  }
}

/** Makes a rename or link in `dir` durable. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (err) {
    // Some file systems (a few FUSE ones) cannot fsync a directory; the rename itself is still atomic there.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  } finally {
    await handle.close();
  }
}

/** A full disk as a StorageFullError; every other error as it was. */
export function asStorageError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' ? new StorageFullError(code) : err;
}
