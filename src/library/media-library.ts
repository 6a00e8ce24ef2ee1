import { createHash } from 'node:crypto';
import { realpath, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import type { StreamingConfig } from '../config/config.js';
import { LocalRegistry, type ContentRecord, type ContentRegistry } from '../coordinate/registry.js';
import { SingleFlight } from '../coordinate/single-flight.js';
import { ContentGoneError, InvalidRequestError, NotFoundError, ServiceUnavailableError, UnsupportedMediaError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { makePlan, type Plan } from '../plan/plan.js';
import { assertFirstFrame, probeSourceDeferred, PROBE_BUDGET, type FirstFrameCheck, type ProbedSource } from '../probe/index.js';
import { ProbeError } from '../probe/errors.js';
import { deserializeProbe, serializeProbe } from '../probe/serialize.js';
import type { ProbeResult } from '../probe/types.js';
import { sameStamp, SourceChangedWhileHashing, stampOf, type ContentIdIndex, type SourceStamp } from '../store/content-id.js';
import type { ContentStore } from '../store/content-store.js';
import type { Content, ContentMetadata } from './content.js';
import { contentBytes } from './content-size.js';
import { FirstFrameRecords } from './first-frame-records.js';
import { isGoneError, openedPath, openNoFollow, SourceFile } from './source-file.js';

export type { Content, ContentMetadata } from './content.js';

/**
 * The media library: turns a path under the media root into content (hash,
 * probe, plan), safely, once; and a hash back into content, only while the
 * file behind it is still the one that was hashed.
 *
 * Contents live in memory in an LRU bounded by bytes (their per-frame tables
 * and plans); one that falls out is derived again from the registry record
 * and the stored probe on its next lookup.
 */

/** A content in memory, with what it takes to check its file. */
interface Entry {
  content: Content;
  source: SourceFile;
  /** Relative path under the media root, as registered. */
  relative: string;
  fingerprint: string;
  /** When the file was last seen unchanged (Date.now()). */
  checkedAt: number;
  checking?: Promise<Entry>;
  bytes: number;
  /** What the first-frame decode check takes, and its verdict once run (a reason when the frame does not decode). */
  firstFrame: FirstFrameCheck;
  firstFrameVerdict?: Promise<string | undefined>;
}

/** A probe and the serialised text its fingerprint is of. */
interface DerivedProbe {
  probe: ProbeResult;
  text: string;
  fingerprint: string;
  /** Not yet in this instance's store (probe.json to write). */
  unstored: boolean;
  firstFrame: FirstFrameCheck;
  /** Known already: from the entry this one replaces, or a decode recorded beside the stored probe. */
  firstFrameVerdict?: Promise<string | undefined>;
}

/** A file behind a hash is looked at (one stat, one realpath) at most this often per lookup stream. */
const CHECK_INTERVAL_MS = 1_000;

/**
 * probe.json is a cache (without it a restart probes the file again), written
 * this long after registration: its serialisation is a pass over every frame,
 * which should not land on the requests a player sends right after the manifest.
 */
const PROBE_WRITE_DELAY_MS = 1_000;

/** storage.content_memory_bytes when unset. */
const DEFAULT_CONTENT_MEMORY_BYTES = 64 * 2 ** 20;

/** Hashes found gone, and contents found unplayable, remembered (bounded) so repeats are answered from memory. */
const MAX_REMEMBERED = 10_000;

export interface MediaLibraryOptions {
  /** Where records are kept (default: this instance's store). */
  registry?: ContentRegistry;
  logger?: Logger;
  /** Applied to every plan made (protected content: package/drm/protect-plan.ts). */
  planHook?: (plan: Plan) => Plan;
}

export class MediaLibrary {
  private readonly contents: LRUCache<string, Entry>;
  private readonly planHook: (plan: Plan) => Plan;
  private readonly registering = new SingleFlight<Entry>();
  private readonly loading = new SingleFlight<Entry>();
  /** Hashes whose file was found replaced within the last CHECK_INTERVAL_MS. */
  private readonly gone = new LRUCache<string, true>({ max: MAX_REMEMBERED, ttl: CHECK_INTERVAL_MS });
  /** Reasons, by hash and by file version (path, size, mtime). */
  private readonly unplayable = new LRUCache<string, string>({ max: MAX_REMEMBERED });
  /** probe.json writes waiting for their turn, by hash. */
  private readonly pendingProbes = new Map<string, { text: string; timer: NodeJS.Timeout }>();
  private readonly registry: ContentRegistry;
  private readonly logger: Logger | undefined;
  private readonly firstFrames: FirstFrameRecords;
  private rootReal?: string;

  constructor(
    readonly mediaRoot: string,
    private readonly store: ContentStore,
    private readonly ids: ContentIdIndex,
    private readonly config: StreamingConfig,
    options: MediaLibraryOptions = {},
  ) {
    this.registry = options.registry ?? new LocalRegistry(store);
    this.logger = options.logger;
    this.planHook = options.planHook ?? ((plan) => plan);
    this.firstFrames = new FirstFrameRecords(store, options.logger);
    this.contents = new LRUCache<string, Entry>({ maxSize: config.storage.content_memory_bytes ?? DEFAULT_CONTENT_MEMORY_BYTES, sizeCalculation: (entry) => entry.bytes });
  }

  private async root(): Promise<string> {
    this.rootReal ??= await realpath(this.mediaRoot);
    return this.rootReal;
  }

  /** Resolves a client-supplied relative path; rejects anything that could leave the media root. */
  async resolve(relativePath: string): Promise<{ absolute: string; relative: string }> {
    if (typeof relativePath !== 'string' || relativePath.length === 0 || relativePath.length > 4096) {
      throw new InvalidRequestError('path must be a non-empty relative path');
    }
    if (relativePath.includes('\0') || relativePath.includes('\\')) throw new InvalidRequestError('path contains a forbidden character');
    if (path.posix.isAbsolute(relativePath) || /^[a-zA-Z]:/.test(relativePath)) throw new InvalidRequestError('path must be relative to the media root');
    const parts = relativePath.split('/');
    if (parts.some((p) => p === '..' || p === '.')) throw new InvalidRequestError('path must not contain "." or ".." segments');
    const root = await this.root();
    const candidate = path.resolve(root, ...parts.filter((p) => p !== ''));
    if (!candidate.startsWith(root + path.sep)) throw new InvalidRequestError('path escapes the media root');
    let real: string;
    try {
      real = await realpath(candidate);
    } catch {
      throw new NotFoundError(`no such media file: ${relativePath}`);
    }
    // A symlink inside the root may point outside it.
    if (!real.startsWith(root + path.sep)) throw new NotFoundError(`no such media file: ${relativePath}`);
    return { absolute: real, relative: path.relative(root, real).split(path.sep).join('/') };
  }

  /**
   * Identifies and probes a media file (once per file version). The record
   * that leads from its hash back to it is durable before this resolves, so
   * an answer naming the hash survives a kill -9 and is found by every
   * instance sharing the registry.
   */
  async register(relativePath: string): Promise<Content> {
    return (await this.registerEntry(relativePath)).content;
  }

  /**
   * Content by hash, while the file behind it is still the one hashed
   * (checked at most once a second; an encode checks again, see
   * Content.withSource). A replaced, rewritten or removed file makes its old
   * hash a ContentGoneError (404); the new file is a new content.
   */
  async get(hash: string): Promise<Content> {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new NotFoundError('unknown content hash');
    this.assertPlayable(hash);
    if (this.gone.has(hash)) throw new ContentGoneError();
    const entry = this.contents.get(hash) ?? (await this.loading.run(hash, () => this.load(hash)));
    return (await this.confirm(hash, entry)).content;
  }

  /**
   * From now on this content (and this version of its file) answers
   * UnsupportedMediaError (415) with `reason`, on lookups and registrations.
   * For a content whose first segment failed for a reason in the media itself.
   */
  markUnplayable(hash: string, reason: string): void {
    this.unplayable.set(hash, reason);
    const entry = this.contents.peek(hash);
    if (entry) {
      this.unplayable.set(fileKey(entry.source.absolutePath, entry.source.stamp), reason);
      this.contents.delete(hash);
    }
    this.logger?.warn({ content: hash, reason }, 'content marked unplayable');
  }

  async list(): Promise<ContentMetadata[]> {
    return (await this.registry.list()).sort((a, b) => a.path.localeCompare(b.path));
  }

  /** Writes the queued probe.json files now (for a clean shutdown) and waits for the id index. */
  async flush(): Promise<void> {
    await Promise.all([...this.pendingProbes.keys()].map((hash) => this.writeProbe(hash)));
    await this.ids.flush();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.registry.close();
  }

  /** Contents held in memory, and their estimated bytes (for tests and metrics). */
  get memory(): { contents: number; bytes: number } {
    return { contents: this.contents.size, bytes: this.contents.calculatedSize };
  }

  private assertPlayable(key: string): void {
    const reason = this.unplayable.get(key);
    if (reason !== undefined) throw new UnsupportedMediaError(reason);
  }

  private async registerEntry(relativePath: string, record?: ContentRecord): Promise<Entry> {
    const { absolute, relative } = await this.resolve(relativePath);
    let handle: FileHandle;
    try {
      // Not through a symlink put in the file's place since realpath() above.
      handle = await openNoFollow(absolute);
    } catch (err) {
      if (isGoneError(err)) throw new NotFoundError(`no such media file: ${relativePath}`);
      throw err;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new NotFoundError(`not a file: ${relativePath}`);
      // Nor through a directory swapped for a symlink meanwhile: the open file must be where realpath() said.
      const where = await openedPath(handle);
      if (where !== undefined && where !== absolute) throw new NotFoundError(`no such media file: ${relativePath}`);
      const stamp = stampOf(info);
      this.assertPlayable(fileKey(absolute, stamp));
      const key = `${absolute}\0${stamp.dev}:${stamp.ino}:${stamp.size}:${stamp.mtimeMs}:${stamp.ctimeMs}`;
      return await this.registering.run(key, () => this.identify(new SourceFile(absolute, stamp), relative, handle, record));
    } finally {
      await handle.close();
    }
  }

  /** Hash, probe, plan and record of an open file version. */
  private async identify(source: SourceFile, relative: string, handle: FileHandle, record: ContentRecord | undefined): Promise<Entry> {
    const { absolutePath: absolute, stamp } = source;
    const mode = this.config.storage.hash_mode;
    // A file version never seen: hash and probe it at the same time (their reads overlap). Only for
    // MP4/MOV (the moov probe is cheap): the probe is wasted when these bytes are known under another path.
    const speculate = this.ids.lookup(absolute, stamp, mode) === undefined && CHEAP_PROBE.test(absolute);
    const probing = speculate ? settle(probeSourceDeferred(absolute)) : undefined;
    let hash: string;
    try {
      const last = this.ids.last(absolute);
      hash = await this.ids.identify(absolute, handle, stamp, mode);
      if (record?.metadata.hash !== hash) record = await this.registry.get(hash).catch((err) => this.registryUnavailable(err));
      const otherVersion = (last?.hash === hash && !sameStamp(last, stamp)) || (record !== undefined && (record.metadata.size !== stamp.size || record.metadata.mtimeMs !== stamp.mtimeMs));
      if (otherVersion && !this.ids.hashedWhole(absolute, stamp)) {
        // Sampled bytes that match another version of the file (seen here, or recorded by any instance): the samples
        // cannot tell a rewrite from it (the bytes between them may differ), so all its bytes name this one.
        hash = await this.ids.identify(absolute, handle, stamp, 'full');
        if (record?.metadata.hash !== hash) record = await this.registry.get(hash).catch((err) => this.registryUnavailable(err));
      }
    } catch (err) {
      if (err instanceof SourceChangedWhileHashing) throw new ServiceUnavailableError('the file changed while it was being read', 1);
      throw err;
    }
    this.assertPlayable(hash);
    const known = this.contents.get(hash);
    if (known && known.source.absolutePath === absolute && sameStamp(known.source.stamp, stamp)) {
      known.checkedAt = Date.now();
      return known;
    }
    const derived = await this.deriveProbe(hash, absolute, record?.probeFingerprint, known, probing);
    // The probe read the file by name: it must still be the version hashed (the encodes read that one, pinned).
    if (!sameStamp(stampOf(await handle.stat()), stamp) || !(await source.unchanged())) {
      throw new ServiceUnavailableError('the file changed while it was being read', 1);
    }
    const metadata = this.metadataFor(hash, relative, stamp, derived.probe, record, derived.fingerprint);
    if (metadata !== record?.metadata) await this.registry.put({ metadata, probeFingerprint: derived.fingerprint }, derived.text);
    if (derived.unstored) this.persistProbe(hash, derived.text);
    const entry = this.makeEntry(hash, source, relative, metadata, derived);
    this.gone.delete(hash);
    this.contents.set(hash, entry);
    return entry;
  }

  /** The record's metadata when it still describes this registration, else new metadata (to be recorded). */
  private metadataFor(hash: string, relative: string, stamp: SourceStamp, probe: ProbeResult, record: ContentRecord | undefined, fingerprint: string): ContentMetadata {
    if (record && record.metadata.path === relative && record.probeFingerprint === fingerprint) return record.metadata;
    if (record && record.probeFingerprint && record.probeFingerprint !== fingerprint) {
      // Only when the recorded probe cannot be read back (another probe format): this probe's plan replaces it. Safe for
      // URLs already out: rendition ids carry the cut list, so a plan with other cuts has other URLs.
      this.logger?.warn({ content: hash }, 'the probe of this content differs from the recorded one: its plan is made again from the new probe');
    }
    return {
      hash,
      path: relative,
      size: stamp.size,
      mtimeMs: stamp.mtimeMs,
      registeredAt: new Date().toISOString(),
      container: probe.container,
      durationSeconds: probe.durationSeconds,
      video: { codec: probe.video.codec, width: probe.video.width, height: probe.video.height, frameRate: probe.video.frameRate },
      audio: probe.audio.map((a) => ({ index: a.index, codec: a.codec, language: a.language, channels: a.channels })),
    };
  }

  /**
   * The probe of a content, from the cheapest place that has the recorded
   * one: memory, a probe.json not written yet, this store, the shared
   * registry; else the file is probed (the speculative probe when one runs).
   */
  private async deriveProbe(hash: string, absolute: string, fingerprint: string | undefined, known: Entry | undefined, probing: Promise<Settled<ProbedSource>> | undefined): Promise<DerivedProbe> {
    if (known && (!fingerprint || known.fingerprint === fingerprint)) {
      // Serialising a deserialised probe gives back the very text (same key order, same runs): same fingerprint.
      const { firstFrame, firstFrameVerdict } = known;
      return { probe: known.content.probe, text: serializeProbe(known.content.probe), fingerprint: known.fingerprint, unstored: false, firstFrame, ...(firstFrameVerdict ? { firstFrameVerdict } : {}) };
    }
    const stored: Array<[() => Promise<string | undefined>, boolean]> = [
      [async () => this.pendingProbes.get(hash)?.text, false],
      [async () => (await this.store.read(path.join(this.store.contentDir(hash), 'probe.json')))?.toString('utf8'), false],
      [() => this.registry.sharedProbe(hash), true],
    ];
    for (const [read, unstored] of stored) {
      const text = await read();
      if (text === undefined) continue;
      const probe = deserializeProbe(text);
      const print = fingerprintOf(text);
      if (probe && (!fingerprint || print === fingerprint)) {
        // A stored probe has no first picture: ffmpeg reads the file for the check, unless it was recorded as passed.
        const decoded = await this.firstFrames.decoded(hash, print);
        return { probe, text, fingerprint: print, unstored, firstFrame: { videoIndex: probe.video.index }, ...(decoded ? { firstFrameVerdict: Promise.resolve(undefined) } : {}) };
      }
    }
    const { probe, firstFrame } = await unwrap(probing ?? settle(probeSourceDeferred(absolute)));
    const text = serializeProbe(probe);
    return { probe, text, fingerprint: fingerprintOf(text), unstored: true, firstFrame };
  }

  private makeEntry(hash: string, source: SourceFile, relative: string, metadata: ContentMetadata, derived: DerivedProbe): Entry {
    const { probe } = derived;
    const content: Content = {
      metadata,
      absolutePath: source.absolutePath,
      probe,
      plan: this.planHook(makePlan(probe, this.config)),
      verifySource: async () => {
        await this.confirm(hash, entry, true);
      },
      withSource: (work) => this.withSource(hash, entry, work),
    };
    const entry: Entry = { content, source, relative, fingerprint: derived.fingerprint, checkedAt: Date.now(), bytes: 0, firstFrame: derived.firstFrame };
    if (derived.firstFrameVerdict) entry.firstFrameVerdict = derived.firstFrameVerdict;
    entry.bytes = contentBytes(content);
    return entry;
  }

  /** A content not in memory: from its record, after checking the file at the recorded path is still these bytes. */
  private async load(hash: string): Promise<Entry> {
    const record = await this.registry.get(hash);
    if (!record) throw new NotFoundError('unknown content hash');
    const entry = await this.registerEntry(record.metadata.path, record).catch((err: unknown) => this.goneIfMissing(hash, err));
    if (entry.content.metadata.hash !== hash) this.markGone(hash);
    return entry;
  }

  /** The entry, once its file is seen unchanged (at most once a CHECK_INTERVAL_MS unless forced), or its current entry after a touch. */
  private async confirm(hash: string, entry: Entry, force = false): Promise<Entry> {
    if (!force && Date.now() - entry.checkedAt < CHECK_INTERVAL_MS) return entry;
    entry.checking ??= (async () => {
      if (await entry.source.unchanged()) {
        entry.checkedAt = Date.now();
        return entry;
      }
      this.forget(hash, entry);
      // Touched, moved back, or the same bytes rewritten: still this content. Anything else: gone.
      const current = await this.registerEntry(entry.relative).catch((err: unknown) => this.goneIfMissing(hash, err));
      if (current.content.metadata.hash !== hash) this.markGone(hash);
      return current;
    })().finally(() => {
      entry.checking = undefined;
    });
    return entry.checking;
  }

  private async withSource<T>(hash: string, entry: Entry, work: (sourcePath: string) => Promise<T>, retried = false): Promise<T> {
    this.assertPlayable(hash);
    const pinned = await entry.source.pin((sourcePath) => this.withFirstFrameChecked(hash, entry, sourcePath, work));
    if (!pinned.changed) return pinned.value;
    this.forget(hash, entry);
    this.logger?.warn({ content: hash }, 'the source changed around an encode: its result is dropped');
    if (retried) throw new ContentGoneError();
    const current = await this.registerEntry(entry.relative).catch((err: unknown) => this.goneIfMissing(hash, err));
    if (current.content.metadata.hash !== hash) this.markGone(hash);
    return this.withSource(hash, current, work, true);
  }

  /**
   * `work` on the pinned source, beside the first-frame decode check (once
   * per entry; the manifest was answered without it): a frame that does not
   * decode makes the content unplayable (415) whatever `work` gave.
   */
  private async withFirstFrameChecked<T>(hash: string, entry: Entry, sourcePath: string, work: (sourcePath: string) => Promise<T>): Promise<T> {
    entry.firstFrameVerdict ??= this.checkFirstFrame(hash, entry, sourcePath);
    const [verdict, result] = await Promise.allSettled([entry.firstFrameVerdict, work(sourcePath)]);
    const reason = verdict.status === 'fulfilled' ? verdict.value : undefined;
    if (reason !== undefined) {
      this.markUnplayable(hash, reason);
      throw new UnsupportedMediaError(reason);
    }
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  }

  /** The reason the first frame does not decode, or undefined; a failure of our own is logged and the check left to run again. */
  private async checkFirstFrame(hash: string, entry: Entry, sourcePath: string): Promise<string | undefined> {
    try {
      await assertFirstFrame(entry.firstFrame, sourcePath, Date.now() + PROBE_BUDGET.timeMs);
      await this.firstFrames.record(hash, entry.fingerprint);
      return undefined;
    } catch (err) {
      if (err instanceof ProbeError) return err.reason;
      entry.firstFrameVerdict = undefined;
      this.logger?.warn({ content: hash, err: (err as Error).message }, 'the first-frame decode check could not run (it runs again with the next encode)');
      return undefined;
    }
  }

  private forget(hash: string, entry: Entry): void {
    if (this.contents.peek(hash) === entry) this.contents.delete(hash);
  }

  private markGone(hash: string): never {
    this.gone.set(hash, true);
    this.contents.delete(hash);
    throw new ContentGoneError();
  }

  /** A file that is no longer there, no longer a file, or no longer media: the content is gone. */
  private goneIfMissing(hash: string, err: unknown): never {
    if (err instanceof NotFoundError || err instanceof ProbeError || err instanceof InvalidRequestError) this.markGone(hash);
    throw err;
  }

  private registryUnavailable(err: unknown): undefined {
    // Registering still works without the shared registry: the record is written locally and shared later.
    if (err instanceof ServiceUnavailableError) return undefined;
    throw err;
  }

  /** Queues the probe.json write, PROBE_WRITE_DELAY_MS from now (flush() writes it at once). */
  private persistProbe(hash: string, text: string): void {
    const queued = this.pendingProbes.get(hash);
    if (queued) clearTimeout(queued.timer);
    const timer = setTimeout(() => void this.writeProbe(hash), PROBE_WRITE_DELAY_MS);
    timer.unref(); // a cache: never the reason the process stays up
    this.pendingProbes.set(hash, { text, timer });
  }

  /** Writes a queued probe.json. Never rejects: on failure a restart just probes again. */
  private async writeProbe(hash: string): Promise<void> {
    const queued = this.pendingProbes.get(hash);
    if (!queued) return;
    clearTimeout(queued.timer);
    try {
      // Only beside its record: if the content dir is gone (removed with the cache), do not create it again.
      await stat(this.store.contentDir(hash));
      await this.store.write(path.join(this.store.contentDir(hash), 'probe.json'), queued.text);
    } catch (err) {
      if (!isGoneError(err)) this.logger?.warn({ content: hash, err: (err as Error).message }, 'probe.json not written (the next start probes again)');
    } finally {
      if (this.pendingProbes.get(hash) === queued) this.pendingProbes.delete(hash);
    }
  }
}

function fileKey(absolute: string, stamp: SourceStamp): string {
  return `file\0${absolute}\0${stamp.size}\0${stamp.mtimeMs}`;
}

function fingerprintOf(probeText: string): string {
  return createHash('sha256').update(probeText).digest('hex');
}

/** Files whose probe reads only the moov (see src/probe): worth starting before the hash says whether it is needed. */
const CHEAP_PROBE = /\.(mp4|m4v|mov)$/i;

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** A promise that never rejects (so one nobody ends up waiting for cannot become an unhandled rejection). */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

async function unwrap<T>(settled: Promise<Settled<T>>): Promise<T> {
  const result = await settled;
  if (!result.ok) throw result.error;
  return result.value;
}
