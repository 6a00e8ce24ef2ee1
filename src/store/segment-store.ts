import path from 'node:path';
import { StorageFullError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { fragmentProblem, initProblem, type FragmentExpectation, type InitExpectation } from '../package/validate.js';
import type { ContentStore, MediaKind } from './content-store.js';
import type { SegmentCache } from './segment-cache.js';

/**
 * Where made files live, as the origin sees it: one object for reading
 * (validated), touching and keeping (durable, with LRU accounting), making
 * room on a full disk, and creating a rendition's init segment and encoder
 * record exactly once. Over ContentStore (the layout, atomic writes) and
 * SegmentCache (the byte budget).
 *
 * Every file is checked on every read from disk, not only those a crash may
 * have torn (files found at start-up that the index snapshot does not know):
 * the check parses a few boxes, far less than the read itself, and so also
 * catches a file another instance sharing the directory, or a person, put there.
 */

/** A media segment, and what the plan says it holds. */
export interface SegmentFile {
  role: 'segment';
  path: string;
  expect: FragmentExpectation;
}

/** A rendition's init segment, and what it must declare. */
export interface InitFile {
  role: 'init';
  path: string;
  expect: InitExpectation;
}

export type StoredFile = SegmentFile | InitFile;

export interface SegmentStoreOptions {
  logger: Logger;
  /** A write failed for a storage reason (full, I/O, permissions). */
  onWriteError?: () => void;
}

/** Beside a video rendition's init segment: the encoder that made it (its segments must all come from it). */
const ENCODER_FILE = 'encoder';
const ENCODER_NAME = /^[a-z0-9_]+$/;
/** What a full disk frees at once: room for a few encodes' work files and outputs. */
const EMERGENCY_FREE_BYTES = 16 * 1024 * 1024;
/** Less free space than this on the cache disk counts as a full disk. */
const LOW_SPACE_BYTES = 1024 * 1024;
/** Errors of the disk rather than of the data: the file is served without being kept. */
export const STORAGE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE']);
/** Tries of a create-once: lost races and damaged winners are both rare, so a few is plenty. */
const CREATE_TRIES = 3;

export class SegmentStore {
  /** Damaged files found on disk (and deleted). */
  damaged = 0;

  constructor(
    readonly files: ContentStore,
    readonly cache: SegmentCache,
    private readonly options: SegmentStoreOptions,
  ) {}

  mediaPath(hash: string, kind: MediaKind, renditionId: string, fileName: string): string {
    return this.files.mediaPath(hash, kind, renditionId, fileName);
  }

  /** Whether a segment is in the index (no disk access; does not change its recency). */
  has(filePath: string): boolean {
    return this.cache.has(filePath);
  }

  /** Why these bytes are not the file, or undefined when they are. */
  problem(file: StoredFile, bytes: Uint8Array): string | undefined {
    return file.role === 'segment' ? fragmentProblem(bytes, file.expect) : initProblem(bytes, file.expect);
  }

  /**
   * The file, when the store has it whole. A damaged one (torn by a crash,
   * cut short, not the planned segment) is deleted and reported missing, so
   * it is made again; it is never served.
   */
  async read(file: StoredFile): Promise<Buffer | undefined> {
    const bytes = await this.files.read(file.path);
    if (!bytes) {
      this.cache.forget(file.path);
      return undefined;
    }
    const problem = this.problem(file, bytes);
    if (problem) {
      this.damaged++;
      this.options.logger.warn({ file: path.relative(this.files.root, file.path), problem }, 'damaged file in the store: deleted, it is made again');
      await this.files.remove(file.path);
      this.cache.forget(file.path);
      return undefined;
    }
    if (file.role === 'segment') this.cache.touch(file.path, bytes.length);
    return bytes;
  }

  /** A file derived from a content's source and kept beside its probe (the audio sample index), if there is one. */
  readAside(hash: string, name: string): Promise<Buffer | undefined> {
    return this.files.read(path.join(this.files.contentDir(hash), name));
  }

  /** Keeps such a file; a disk that cannot take it resolves false (it is derived again when next needed). */
  async keepAside(hash: string, name: string, bytes: Uint8Array): Promise<boolean> {
    try {
      await this.files.write(path.join(this.files.contentDir(hash), name), bytes);
    } catch (err) {
      if (!STORAGE_ERRORS.has((err as NodeJS.ErrnoException)?.code ?? '')) throw err;
      this.options.onWriteError?.();
      return false;
    }
    return true;
  }

  /**
   * Stores a checked media segment, durably, and accounts for it in the byte
   * budget. When the disk is full the least recently used segments make room
   * and the write is tried once more; when it still fails (full, or an I/O
   * error) it resolves false: the caller serves the bytes without keeping them.
   */
  async keep(file: SegmentFile, bytes: Uint8Array): Promise<boolean> {
    const problem = this.problem(file, bytes);
    if (problem) throw new Error(`refusing to store a damaged segment: ${problem}`);
    try {
      await this.withRoom(bytes.length, () => this.files.write(file.path, bytes));
    } catch (err) {
      if (!STORAGE_ERRORS.has((err as NodeJS.ErrnoException)?.code ?? '')) throw err;
      this.options.onWriteError?.();
      return false;
    }
    this.cache.add(file.path, bytes.length);
    return true;
  }

  /**
   * Makes `bytes` the rendition's init segment unless it has one: exactly one
   * writer creates it, everyone gets the one that is there. A full disk with
   * nothing left to evict is a StorageFullError (the segment cannot be made
   * consistent with an init that is not kept).
   */
  async createInit(file: InitFile, bytes: Uint8Array): Promise<{ created: boolean; init: Buffer }> {
    const problem = this.problem(file, bytes);
    if (problem) throw new Error(`refusing to store a damaged init segment: ${problem}`);
    for (let tries = 0; tries < CREATE_TRIES; tries++) {
      const existing = await this.read(file);
      if (existing) return { created: false, init: existing };
      if (await this.withRoom(bytes.length, () => this.files.create(file.path, bytes))) return { created: true, init: Buffer.from(bytes) };
    }
    throw new Error(`could not create or read ${path.relative(this.files.root, file.path)}`);
  }

  /** The encoder recorded for a video rendition, if any. */
  async encoderOf(init: InitFile): Promise<string | undefined> {
    const recordPath = path.join(path.dirname(init.path), ENCODER_FILE);
    const recorded = (await this.files.read(recordPath))?.toString('utf8').trim();
    if (recorded === undefined || ENCODER_NAME.test(recorded)) return recorded;
    // Torn by a crash before records were written durably: as if there were none.
    this.options.logger.warn({ file: path.relative(this.files.root, recordPath) }, 'damaged encoder record: deleted');
    await this.files.remove(recordPath);
    return undefined;
  }

  /** Records the encoder of a video rendition unless one is recorded: resolves to the rendition's encoder. */
  async recordEncoder(init: InitFile, encoder: string): Promise<string> {
    const recordPath = path.join(path.dirname(init.path), ENCODER_FILE);
    for (let tries = 0; tries < CREATE_TRIES; tries++) {
      const recorded = await this.encoderOf(init);
      if (recorded) return recorded;
      if (await this.withRoom(encoder.length, () => this.files.create(recordPath, encoder))) return encoder;
    }
    throw new Error(`could not create or read ${path.relative(this.files.root, recordPath)}`);
  }

  /** Keeps what the tools said about a failed encode, for whoever investigates the 502 (best effort). */
  async keepFailure(hash: string, kind: MediaKind, renditionId: string, number: number, log: string, record: object): Promise<void> {
    const logPath = this.files.logPath(hash, kind, renditionId, number);
    try {
      await Promise.all([this.files.write(logPath, log), this.files.write(logPath.replace(/\.log$/, '.json'), JSON.stringify(record))]);
    } catch (err) {
      this.options.logger.warn({ err: (err as Error).message, file: path.relative(this.files.root, logPath) }, 'could not keep the log of a failed encode');
    }
  }

  /** Whether the cache disk has (almost) no room left. */
  async lowOnSpace(): Promise<boolean> {
    return ((await this.files.freeBytes()) ?? Infinity) < LOW_SPACE_BYTES;
  }

  /** The disk is full: evicts the least recently used segments, for room for a few encodes. */
  async makeRoom(bytes = EMERGENCY_FREE_BYTES): Promise<number> {
    return this.cache.freeSpace(bytes);
  }

  makeWorkDir(): Promise<string> {
    return this.files.makeWorkDir();
  }

  removeWorkDir(dir: string): Promise<void> {
    return this.files.removeWorkDir(dir);
  }

  /** Runs a write; on a full disk evicts least recently used segments and runs it once more. */
  private async withRoom<T>(bytes: number, write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof StorageFullError)) throw err;
      this.options.onWriteError?.();
      await this.makeRoom(Math.max(4 * bytes, EMERGENCY_FREE_BYTES));
      return write();
    }
  }
}
