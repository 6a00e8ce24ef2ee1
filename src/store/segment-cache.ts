import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { writeFileAtomic } from './atomic.js';

/**
 * The byte budget of the store: every media segment on disk is an entry of an
 * LRU (lru-cache) bounded in bytes; when a new segment pushes it over, the
 * least recently used segments are deleted. Only segments count: metadata,
 * probe results and init segments (a few KB per rendition, and needed to play
 * any segment) stay. Files are added only after their atomic rename, so a file
 * being written is never evicted; a file being served is read whole first,
 * and an unlink never takes bytes from a reader that has it open.
 *
 * The order survives restarts: a snapshot (relative path, size, last use) is
 * written on close and every SNAPSHOT_INTERVAL_MS, and the start-up rebuild
 * lists the store (one recursive readdir), keeps the snapshot's order for the
 * files still there and stats only the files it does not know.
 */

export interface SegmentCacheOptions {
  /** Byte budget for segments. */
  maxBytes: number;
  /** Segments unused for longer are deleted (0: no age limit). */
  retentionMs: number;
  /** Called after a segment was evicted and deleted. */
  onEvict?: (bytes: number) => void;
}

interface Entry {
  size: number;
  lastUse: number;
}

type SnapshotRow = [relativePath: string, size: number, lastUse: number];

const SNAPSHOT_FILE = path.join('index', 'segments.json');
const SNAPSHOT_INTERVAL_MS = 30_000;
/** Segment files: what the LRU holds. */
const SEGMENT_FILE = /\.(m4s|mp4)$/;
const INIT_FILE = 'init.mp4';
/** {hash}/images/{track}/{file}.jpg: made images, in the LRU with the segments. */
export const IMAGES_DIR = 'images';
const IMAGE_FILE = /\.jpg$/;
const CONTENT_DIR = /^[0-9a-f]{64}$/;

export class SegmentCache {
  private readonly lru: LRUCache<string, Entry>;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private evictions = 0;
  /** Per content hash: bumped whenever one of its segments enters or leaves the index (see versionOf). */
  private readonly versions = new Map<string, number>();

  constructor(
    private readonly root: string,
    private readonly options: SegmentCacheOptions,
  ) {
    this.lru = new LRUCache<string, Entry>({
      maxSize: Math.max(1, options.maxBytes),
      sizeCalculation: (entry) => Math.max(1, entry.size),
      dispose: (entry, relative, reason) => {
        if (reason !== 'evict' && reason !== 'expire') return;
        this.changed(relative);
        this.evictions++;
        this.dirty = true;
        void unlink(path.join(this.root, relative)).then(
          () => this.options.onEvict?.(entry.size),
          () => this.options.onEvict?.(entry.size), // already gone: the bytes are free either way
        );
      },
    });
  }

  /** Whether a file under the store root is one the LRU manages. */
  static isSegmentPath(relativePath: string): boolean {
    const parts = relativePath.split(path.sep);
    if (parts.length !== 4) return false;
    // Thumbnail sheets and posters (image-store.ts) share the budget: made again on demand like segments.
    if (parts[1] === IMAGES_DIR) return IMAGE_FILE.test(parts[3]!);
    return (parts[1] === 'video' || parts[1] === 'audio') && SEGMENT_FILE.test(parts[3]!) && parts[3] !== INIT_FILE;
  }

  /**
   * Rebuilds the index from the snapshot and what is on disk; deletes what
   * is over the budget or past retention. Returns the number of segments kept.
   */
  async load(): Promise<number> {
    const onDisk = await this.listSegments();
    const snapshot = await this.readSnapshot();
    const now = Date.now();
    const rows: SnapshotRow[] = [];
    for (const row of snapshot) {
      if (onDisk.delete(row[0])) rows.push(row);
    }
    // Files the snapshot does not know (written after it, or no snapshot at all): their mtime is their last use.
    const unknown = [...onDisk];
    for (let i = 0; i < unknown.length; i += 256) {
      const batch = unknown.slice(i, i + 256);
      const stats = await Promise.all(batch.map((relative) => stat(path.join(this.root, relative)).catch(() => undefined)));
      batch.forEach((relative, k) => {
        const st = stats[k];
        if (st) rows.push([relative, st.size, st.mtimeMs]);
      });
    }
    rows.sort((a, b) => a[2] - b[2]);
    for (const [relative, size, lastUse] of rows) {
      if (this.isExpired(lastUse, now)) {
        await unlink(path.join(this.root, relative)).catch(() => undefined);
        continue;
      }
      this.lru.set(relative, { size, lastUse });
      this.changed(relative);
    }
    this.dirty = true;
    this.timer = setInterval(() => void this.maintain(), SNAPSHOT_INTERVAL_MS);
    this.timer.unref();
    return this.lru.size;
  }

  /** A segment was just stored (after its rename). May evict others. */
  add(absolutePath: string, size: number): void {
    const relative = this.relative(absolutePath);
    if (!relative) return;
    if (size > this.options.maxBytes) {
      // Larger than the whole budget: served this once, never kept.
      this.evictions++;
      void unlink(absolutePath).catch(() => undefined).then(() => this.options.onEvict?.(size));
      return;
    }
    this.lru.set(relative, { size, lastUse: Date.now() });
    this.changed(relative);
    this.dirty = true;
  }

  /** A segment was read from disk: it becomes the most recently used. */
  touch(absolutePath: string, size: number): void {
    const relative = this.relative(absolutePath);
    if (!relative) return;
    const entry = this.lru.get(relative);
    if (entry) entry.lastUse = Date.now();
    // Written by another instance sharing this directory: now ours to account for.
    else {
      this.lru.set(relative, { size, lastUse: Date.now() });
      this.changed(relative);
    }
    this.dirty = true;
  }

  /**
   * The disk is full: evicts least recently used segments until `bytes` are
   * freed (or none is left), and waits for their deletion.
   */
  async freeSpace(bytes: number): Promise<number> {
    let freed = 0;
    const victims: Array<[string, Entry]> = [];
    for (const relative of this.lru.rkeys()) {
      if (freed >= bytes) break;
      const entry = this.lru.peek(relative)!;
      victims.push([relative, entry]);
      freed += entry.size;
    }
    for (const [relative, entry] of victims) await this.drop(relative, entry);
    return freed;
  }

  /** Evicts one segment now (not through the LRU's own eviction) and deletes its file. */
  private async drop(relative: string, entry: Entry): Promise<void> {
    this.lru.delete(relative);
    this.changed(relative);
    this.evictions++;
    this.dirty = true;
    await unlink(path.join(this.root, relative)).catch(() => undefined);
    this.options.onEvict?.(entry.size);
  }

  /** Segments of a content in the index (walks the index: for listings, not hot paths). */
  countFor(hash: string): number {
    let count = 0;
    const prefix = `${hash}${path.sep}`;
    const images = `${prefix}${IMAGES_DIR}${path.sep}`;
    for (const relative of this.lru.keys()) if (relative.startsWith(prefix) && !relative.startsWith(images)) count++;
    return count;
  }

  /** Bytes of a segment in the index, by its place ({hash}/{kind}/{rendition}/{file}); does not change its recency. */
  sizeOf(hash: string, kind: string, renditionId: string, fileName: string): number | undefined {
    return this.lru.peek([hash, kind, renditionId, fileName].join(path.sep))?.size;
  }

  /** Whether a segment is in the index (does not change its recency). */
  has(absolutePath: string): boolean {
    const relative = this.relative(absolutePath);
    return relative !== undefined && this.lru.has(relative);
  }

  /** A segment found missing (deleted behind our back): forget it. */
  forget(absolutePath: string): void {
    const relative = this.relative(absolutePath);
    if (relative && this.lru.delete(relative)) {
      this.changed(relative);
      this.dirty = true;
    }
  }

  /**
   * Changes whenever the index gains or loses a segment of content `hash`
   * (so whatever sizeOf answers for it may differ): what is computed from
   * sizeOf can be kept under it.
   */
  versionOf(hash: string): number {
    return this.versions.get(hash) ?? 0;
  }

  private changed(relative: string): void {
    const hash = relative.slice(0, relative.indexOf(path.sep));
    this.versions.set(hash, (this.versions.get(hash) ?? 0) + 1);
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get count(): number {
    return this.lru.size;
  }

  get evictionCount(): number {
    return this.evictions;
  }

  /** Drops segments past retention and writes the snapshot when something changed. */
  async maintain(): Promise<void> {
    if (this.options.retentionMs > 0) {
      const now = Date.now();
      const expired: Array<[string, Entry]> = [];
      for (const relative of this.lru.rkeys()) {
        const entry = this.lru.peek(relative)!;
        if (!this.isExpired(entry.lastUse, now)) break; // oldest first: the rest are newer
        expired.push([relative, entry]);
      }
      for (const [relative, entry] of expired) await this.drop(relative, entry);
    }
    if (!this.dirty) return;
    this.dirty = false;
    const rows: SnapshotRow[] = [];
    for (const relative of this.lru.rkeys()) {
      const entry = this.lru.peek(relative)!;
      rows.push([relative, entry.size, Math.round(entry.lastUse)]);
    }
    await writeFileAtomic(path.join(this.root, SNAPSHOT_FILE), JSON.stringify({ version: 1, rows })).catch(() => {
      this.dirty = true; // try again next time
    });
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.maintain();
  }

  private isExpired(lastUse: number, now: number): boolean {
    return this.options.retentionMs > 0 && now - lastUse > this.options.retentionMs;
  }

  private relative(absolutePath: string): string | undefined {
    const relative = path.relative(this.root, absolutePath);
    return SegmentCache.isSegmentPath(relative) ? relative : undefined;
  }

  /** Every segment file under the root ({hash}/{kind}/{rendition}/{file}), as relative paths. */
  private async listSegments(): Promise<Set<string>> {
    const found = new Set<string>();
    const list = (dir: string) => readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const content of await list(this.root)) {
      if (!content.isDirectory() || !CONTENT_DIR.test(content.name)) continue;
      for (const kind of ['video', 'audio', IMAGES_DIR]) {
        const kindDir = path.join(this.root, content.name, kind);
        const renditions = (await list(kindDir)).filter((r) => r.isDirectory());
        const listings = await Promise.all(renditions.map((r) => list(path.join(kindDir, r.name))));
        renditions.forEach((rendition, i) => {
          const prefix = `${content.name}${path.sep}${kind}${path.sep}${rendition.name}${path.sep}`;
          for (const file of listings[i]!) {
            if (file.isFile() && SegmentCache.isSegmentPath(prefix + file.name)) found.add(prefix + file.name);
          }
        });
      }
    }
    return found;
  }

  private async readSnapshot(): Promise<SnapshotRow[]> {
    try {
      const parsed = JSON.parse(await readFile(path.join(this.root, SNAPSHOT_FILE), 'utf8')) as { version?: number; rows?: unknown };
      if (parsed.version !== 1 || !Array.isArray(parsed.rows)) return [];
      return parsed.rows.filter(
        (r): r is SnapshotRow => Array.isArray(r) && typeof r[0] === 'string' && typeof r[1] === 'number' && typeof r[2] === 'number',
      );
    } catch {
      return [];
    }
  }
}

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1e3, KB: 1e3, M: 1e6, MB: 1e6, G: 1e9, GB: 1e9, T: 1e12, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/** "2GB", "500 MiB", "1.5G", 1048576 → bytes; undefined when unreadable. */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m && UNITS[m[2]!.toUpperCase()];
  return m && unit ? Math.floor(Number(m[1]) * unit) : undefined;
}
