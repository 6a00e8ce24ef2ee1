import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { StreamingConfig } from '../config/config.js';
import { SingleFlight } from '../coordinate/single-flight.js';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { makePlan, type Plan } from '../plan/plan.js';
import { probeSource } from '../probe/index.js';
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

export class MediaLibrary {
  private readonly byHash = new Map<string, Content>();
  private readonly registering = new SingleFlight<Content>();
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

  /** Identifies and probes a media file (once per file version), storing its metadata. */
  async register(relativePath: string): Promise<Content> {
    const { absolute, relative } = await this.resolve(relativePath);
    const info = await stat(absolute);
    if (!info.isFile()) throw new NotFoundError(`not a file: ${relativePath}`);
    return this.registering.run(`${absolute}:${info.size}:${info.mtimeMs}`, async () => {
      const hash = await this.ids.identify(absolute, info.size, info.mtimeMs, this.config.storage.hash_mode);
      const known = this.byHash.get(hash);
      if (known && known.absolutePath === absolute) return known;
      const probe = (await this.store.readJson<ProbeResult>(hash, 'probe.json')) ?? (await probeSource(absolute));
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
      await this.store.writeJson(hash, 'probe.json', probe);
      await this.store.writeJson(hash, 'metadata.json', metadata);
      const content: Content = { metadata, absolutePath: absolute, probe, plan: makePlan(probe, this.config) };
      this.byHash.set(hash, content);
      return content;
    });
  }

  /** Content by hash: from memory, or from the store after a restart while the source is unchanged. */
  async get(hash: string): Promise<Content> {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new NotFoundError('unknown content hash');
    const known = this.byHash.get(hash);
    if (known) return known;
    const metadata = await this.store.readJson<ContentMetadata>(hash, 'metadata.json');
    if (!metadata) throw new NotFoundError('unknown content hash');
    const content = await this.register(metadata.path).catch(() => undefined);
    if (!content || content.metadata.hash !== hash) throw new NotFoundError('the source of this content is gone or has changed');
    return content;
  }

  async list(): Promise<ContentMetadata[]> {
    const hashes = await this.store.listContent();
    const all = await Promise.all(hashes.map((h) => this.store.readJson<ContentMetadata>(h, 'metadata.json').catch(() => undefined)));
    return all.filter((m): m is ContentMetadata => m !== undefined).sort((a, b) => a.path.localeCompare(b.path));
  }
}
