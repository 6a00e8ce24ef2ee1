import path from 'node:path';
import { StorageFullError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { IMAGES_DIR } from './segment-cache.js';
import { STORAGE_ERRORS, type SegmentStore } from './segment-store.js';

/**
 * Made images (thumbnail sheets, posters) in the segment store: addressed by
 * content hash and track id ({cache}/{hash}/images/{track}/{file}.jpg),
 * written atomically and durably (temp file, fsync, rename), checked on
 * every read (a damaged one is deleted and made again), and counted in the
 * same LRU byte budget as segments, so they are evicted and made again on
 * demand like them.
 */
export class ImageStore {
  damaged = 0;

  constructor(
    private readonly segments: SegmentStore,
    private readonly problem: (bytes: Uint8Array) => string | undefined,
    private readonly logger: Logger,
  ) {}

  pathOf(hash: string, trackId: string, fileName: string): string {
    return path.join(this.segments.files.contentDir(hash), IMAGES_DIR, trackId, fileName);
  }

  /** The image when the store has it whole. */
  async read(filePath: string): Promise<Buffer | undefined> {
    const { files, cache } = this.segments;
    const bytes = await files.read(filePath);
    if (!bytes) {
      cache.forget(filePath);
      return undefined;
    }
    const problem = this.problem(bytes);
    if (problem) {
      this.damaged++;
      this.logger.warn({ file: path.relative(files.root, filePath), problem }, 'damaged image in the store: deleted, it is made again');
      await files.remove(filePath);
      cache.forget(filePath);
      return undefined;
    }
    cache.touch(filePath, bytes.length);
    return bytes;
  }

  /**
   * Keeps a checked image. A full disk makes room from the least recently
   * used files and is tried once more; when the disk still cannot take it
   * (full, or another storage error), resolves false: the image is served
   * without being kept, as a segment would be.
   */
  async keep(filePath: string, bytes: Uint8Array): Promise<boolean> {
    const problem = this.problem(bytes);
    if (problem) throw new Error(`refusing to store a damaged image: ${problem}`);
    const { files, cache } = this.segments;
    try {
      try {
        await files.write(filePath, bytes);
      } catch (err) {
        if (!(err instanceof StorageFullError)) throw err;
        await this.segments.makeRoom(Math.max(4 * bytes.length, 16 * 1024 * 1024));
        await files.write(filePath, bytes);
      }
    } catch (err) {
      if (!(err instanceof StorageFullError) && !STORAGE_ERRORS.has((err as NodeJS.ErrnoException)?.code ?? '')) throw err;
      this.logger.warn({ file: path.relative(files.root, filePath), err: (err as Error).message }, 'the cache disk cannot take the image: served without being kept');
      return false;
    }
    cache.add(filePath, bytes.length);
    return true;
  }
}
