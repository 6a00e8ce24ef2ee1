import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { StreamingConfig } from '../config/config.js';
import { SingleFlight } from '../coordinate/single-flight.js';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { makePlan, type Plan } from '../plan/plan.js';
import { probeSource } from '../probe/index.js';
import { deserializeProbe, serializeProbe } from '../probe/serialize.js';
import type { ProbeResult } from '../probe/types.js';
import type { ContentIdIndex } from '../store/content-id.js';
import type { ContentStore } from '../store/content-store.js';

/**
 * The media library: turns a path under the media root into content (hash,
 * probe, plan), safely, once. Paths are checked before anything is opened.
 */

export interface ContentMetadata {
  hash: string;
  /** Relative to the media root, with forward slashes. */
  path: string;
  size: number;
  mtimeMs: number;
  registeredAt: string;
  container: string;
  durationSeconds: number;
  video: { codec: string; width: number; height: number; frameRate: number };
  audio: { index: number; codec: string; language: string; channels: number }[];
}

export interface Content {
  metadata: ContentMetadata;
  absolutePath: string;
  probe: ProbeResult;
  plan: Plan;
}

/**
 * The metadata.json write of one content, done after the response that
 * registered it. `done` never rejects: it resolves to the error of a failed
 * write, which durable() then retries.
 */
interface PendingMetadata {
  done: Promise<Error | undefined>;
  metadata: ContentMetadata;
}

/**
 * probe.json is a cache (without it a restart probes the file again), written
 * this long after registration: its serialisation is a pass over every frame,
 * which should not land on the requests a player sends right after the manifest.
 */
const PROBE_WRITE_DELAY_MS = 1_000;

export class MediaLibrary {
  private readonly byHash = new Map<string, Content>();
  private readonly registering = new SingleFlight<Content>();
  /** metadata.json writes not known to be on disk yet, by hash. */
  private readonly pending = new Map<string, PendingMetadata>();
  /** probe.json writes waiting for their turn, by hash. */
  private readonly pendingProbes = new Map<string, { probe: ProbeResult; timer: NodeJS.Timeout }>();
  private rootReal?: string;

  constructor(
    readonly mediaRoot: string,
    private readonly store: ContentStore,
    private readonly ids: ContentIdIndex,
    private readonly config: StreamingConfig,
  ) {}

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
   * Identifies and probes a media file (once per file version). Its metadata
   * is written to the store after the caller has its answer, and every
   * hash-addressed request (get) waits for it: nothing a client was pointed
   * at depends on a write that has not happened, and after a restart the hash
   * still leads to the file. The probe follows a little later (a cache).
   */
  async register(relativePath: string): Promise<Content> {
    const { absolute, relative } = await this.resolve(relativePath);
    const info = await stat(absolute);
    if (!info.isFile()) throw new NotFoundError(`not a file: ${relativePath}`);
    return this.registering.run(`${absolute}:${info.size}:${info.mtimeMs}`, async () => {
      const mode = this.config.storage.hash_mode;
      // A file version never seen: hash and probe it at the same time (their reads overlap). Only for
      // MP4/MOV (the moov probe is cheap): the probe is wasted when these bytes are known under another path.
      const speculate = this.ids.lookup(absolute, info.size, info.mtimeMs, mode) === undefined && CHEAP_PROBE.test(absolute);
      const probing = speculate ? settle(probeSource(absolute)) : undefined;
      const hash = await this.ids.identify(absolute, info.size, info.mtimeMs, mode);
      const known = this.byHash.get(hash);
      if (known && known.absolutePath === absolute) return known;
      let probe = known?.probe;
      let stored = probe !== undefined;
      if (!probe && !probing) {
        probe = await this.readStoredProbe(hash);
        stored = probe !== undefined;
      }
      probe ??= await unwrap(probing ?? settle(probeSource(absolute)));
      const metadata: ContentMetadata = {
        hash,
        path: relative,
        size: info.size,
        mtimeMs: info.mtimeMs,
        registeredAt: new Date().toISOString(),
        container: probe.container,
        durationSeconds: probe.durationSeconds,
        video: { codec: probe.video.codec, width: probe.video.width, height: probe.video.height, frameRate: probe.video.frameRate },
        audio: probe.audio.map((a) => ({ index: a.index, codec: a.codec, language: a.language, channels: a.channels })),
      };
      const content: Content = { metadata, absolutePath: absolute, probe, plan: makePlan(probe, this.config) };
      this.byHash.set(hash, content);
      this.persistMetadata(hash, metadata);
      if (!stored) this.persistProbe(hash, probe);
      return content;
    });
  }

  /** Content by hash: from memory, or from the store after a restart while the source is unchanged. */
  async get(hash: string): Promise<Content> {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new NotFoundError('unknown content hash');
    const known = this.byHash.get(hash);
    if (known) {
      await this.durable(hash);
      return known;
    }
    const metadata = await this.store.readJson<ContentMetadata>(hash, 'metadata.json');
    if (!metadata) throw new NotFoundError('unknown content hash');
    const content = await this.register(metadata.path).catch(() => undefined);
    if (!content || content.metadata.hash !== hash) throw new NotFoundError('the source of this content is gone or has changed');
    await this.durable(hash);
    return content;
  }

  async list(): Promise<ContentMetadata[]> {
    // What was registered a moment ago is listed too; a write that keeps failing only leaves its content out.
    await this.flush().catch(() => undefined);
    const hashes = await this.store.listContent();
    const all = await Promise.all(hashes.map((h) => this.store.readJson<ContentMetadata>(h, 'metadata.json').catch(() => undefined)));
    return all.filter((m): m is ContentMetadata => m !== undefined).sort((a, b) => a.path.localeCompare(b.path));
  }

  /**
   * Writes everything registered so far now and waits for it (for a clean
   * shutdown). A failed metadata write is retried once, then thrown.
   */
  async flush(): Promise<void> {
    await Promise.all([...this.pendingProbes.keys()].map((hash) => this.writeProbe(hash)));
    await Promise.all([...this.pending.keys()].map((hash) => this.durable(hash)));
    await this.ids.flush();
  }

  /** probe.json of a content, when it is readable and in the current format. */
  private async readStoredProbe(hash: string): Promise<ProbeResult | undefined> {
    const bytes = await this.store.read(path.join(this.store.contentDir(hash), 'probe.json'));
    return bytes ? deserializeProbe(bytes.toString('utf8')) : undefined;
  }

  /** Queues the metadata.json write, after the current response; one chain per hash, so the newest is written last. */
  private persistMetadata(hash: string, metadata: ContentMetadata): void {
    const previous = this.pending.get(hash);
    const entry: PendingMetadata = {
      metadata,
      done: (previous?.done ?? Promise.resolve(undefined)).then(async () => {
        await new Promise<void>((resolve) => setImmediate(resolve));
        return this.writeMetadata(hash, metadata);
      }),
    };
    this.pending.set(hash, entry);
    void entry.done.then((error) => {
      // Written: forget it. Failed: keep it, so durable() retries.
      if (!error && this.pending.get(hash) === entry) this.pending.delete(hash);
    });
  }

  /** Never rejects. */
  private async writeMetadata(hash: string, metadata: ContentMetadata): Promise<Error | undefined> {
    try {
      await this.store.writeJson(hash, 'metadata.json', metadata);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** Queues the probe.json write, PROBE_WRITE_DELAY_MS from now (flush() writes it at once). */
  private persistProbe(hash: string, probe: ProbeResult): void {
    const queued = this.pendingProbes.get(hash);
    if (queued) clearTimeout(queued.timer);
    const timer = setTimeout(() => void this.writeProbe(hash), PROBE_WRITE_DELAY_MS);
    timer.unref(); // a cache: never the reason the process stays up
    this.pendingProbes.set(hash, { probe, timer });
  }

  /** Writes a queued probe.json. Never rejects: on failure a restart just probes again. */
  private async writeProbe(hash: string): Promise<void> {
    const queued = this.pendingProbes.get(hash);
    if (!queued) return;
    clearTimeout(queued.timer);
    this.pendingProbes.delete(hash);
    try {
      // Only beside its metadata: if the content dir is gone (removed with the cache), do not create it again.
      await this.durable(hash);
      await stat(this.store.contentDir(hash));
      await this.store.write(path.join(this.store.contentDir(hash), 'probe.json'), serializeProbe(queued.probe));
    } catch {
      // not written: the next start probes this content again
    }
  }

  /** Resolves once this content's metadata is on disk (one retry of a failed write), and its id in the index. */
  private async durable(hash: string): Promise<void> {
    const entry = this.pending.get(hash);
    if (entry) {
      let error = await entry.done;
      if (error && this.pending.get(hash) === entry) {
        error = await this.writeMetadata(hash, entry.metadata);
        if (!error && this.pending.get(hash) === entry) this.pending.delete(hash);
      }
      if (error) throw error;
    }
    await this.ids.flush();
  }
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
