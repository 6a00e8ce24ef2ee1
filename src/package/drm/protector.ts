import { LRUCache } from 'lru-cache';
import { EncodeError } from '../../errors.js';
import type { Plan } from '../../plan/plan.js';
import type { SpanEncryption } from '../package.js';
import type { DrmConfig } from './config.js';
import { segmentIv, type ContentKeys, type KeyLabel, type KeySource } from './keys.js';
import { contentPssh, type SystemPssh } from './pssh.js';
import { SeedKeySource } from './keys.js';
import { ServiceKeySource } from './key-service.js';

/**
 * What the pipeline asks of protection: a content's keys (from the key
 * source), the packager's encryption settings for a span, and the PSSH boxes
 * the inits and manifests carry. Keys stay in memory only (never in a plan,
 * a record on disk, a log line or an error message).
 */
export class Protector {
  /** Keys resolved so far, for the synchronous checks of stored inits (their key id). */
  private readonly resolved = new LRUCache<string, ContentKeys>({ max: 10_000 });

  constructor(
    readonly config: DrmConfig,
    readonly source: KeySource,
  ) {}

  get scheme(): 'cenc' | 'cbcs' {
    return this.config.scheme;
  }

  async keysFor(hash: string): Promise<ContentKeys> {
    const keys = await this.source.keysFor(hash);
    this.resolved.set(hash, keys);
    return keys;
  }

  /** The key id of a content's track, when its keys have been resolved on this instance. */
  knownKid(hash: string, label: KeyLabel): string | undefined {
    return this.resolved.get(hash)?.[label].kid;
  }

  async pssh(hash: string): Promise<SystemPssh[]> {
    return contentPssh(await this.keysFor(hash), this.config.systems);
  }

  /** How the packager encrypts one span of a rendition (segment, 1-based, or its init). */
  async encryption(hash: string, label: KeyLabel, renditionId: string, segment: number | 'init'): Promise<SpanEncryption> {
    const keys = await this.keysFor(hash);
    const key = keys[label];
    const pssh = Buffer.concat(contentPssh(keys, this.config.systems).map((p) => p.box));
    return { scheme: this.scheme, kid: key.kid, key: key.key, iv: segmentIv(this.scheme, key, renditionId, segment), pssh };
  }
}

/** The protector a server's config asks for, or undefined when streaming.drm is off. */
export function protectorFor(config: DrmConfig, seed: string | undefined): Protector | undefined {
  if (!config.enabled) return undefined;
  if (config.key_source === 'service') return new Protector(config, new ServiceKeySource(config.key_service!, config.scheme));
  if (!seed) throw new Error('streaming.drm with key_source "seed" needs a key seed');
  return new Protector(config, new SeedKeySource(seed, config.scheme));
}

/** How a content's span is encrypted: undefined for clear content; a protected one needs this instance's protector. */
export async function spanEncryption(
  protector: Protector | undefined,
  content: { plan: Plan; metadata: { hash: string } },
  found: { kind: KeyLabel; rendition: { id: string } },
  part: number | 'init',
): Promise<SpanEncryption | undefined> {
  if (!content.plan.protection) return undefined;
  if (!protector) throw new EncodeError('protected content, but this instance has no DRM configured', '');
  return protector.encryption(content.metadata.hash, found.kind, found.rendition.id, part);
}

/** What a protected rendition's init must declare (validate.ts InitExpectation): its scheme, and its key id once this instance knows it. */
export function initProtection(protector: Protector | undefined, content: { plan: Plan; metadata: { hash: string } }, label: KeyLabel): { protection?: { scheme: string; kid?: string } } {
  const scheme = content.plan.protection?.scheme;
  if (!scheme) return {};
  const kid = protector?.knownKid(content.metadata.hash, label);
  return { protection: { scheme, ...(kid ? { kid } : {}) } };
}
