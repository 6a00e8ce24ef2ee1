import { createHmac, hkdfSync } from 'node:crypto';
import type { DrmConfig } from './config.js';

/**
 * Content keys. One key per kind of track of a content: every video
 * rendition shares the video key (an ABR switch needs no new license, and the
 * one HLS video playlist and the DASH video AdaptationSet name one default
 * KID), audio has its own. Key ids and keys are 16 bytes, lower-case hex here.
 */

export type KeyLabel = 'video' | 'audio';

export interface TrackKey {
  kid: string;
  key: string;
}

export type ContentKeys = Record<KeyLabel, TrackKey>;

export interface KeySource {
  /** A public tag of where keys come from, part of every protected rendition id (a new seed or service: new URLs). */
  readonly tag: string;
  keysFor(hash: string): Promise<ContentKeys>;
}

const LABELS: readonly KeyLabel[] = ['video', 'audio'];

/**
 * Keys derived by HKDF-SHA256 from a master seed: salt the content hash,
 * info "jitseg/drm/v1/{scheme}/{kid|key}/{label}". Any instance with the seed
 * derives the same pair for a content, with no shared state; the scheme is in
 * the info so that one key never serves both AES-CTR (cenc) and AES-CBC (cbcs).
 */
export class SeedKeySource implements KeySource {
  readonly tag: string;
  constructor(
    private readonly seed: string,
    private readonly scheme: 'cenc' | 'cbcs',
  ) {
    // Says which seed without saying anything about it: HKDF output under an info no key uses.
    this.tag = derive(seed, '', 'jitseg/drm/v1/seed-tag', 4);
  }

  keysFor(hash: string): Promise<ContentKeys> {
    return Promise.resolve(this.derive(hash));
  }

  derive(hash: string): ContentKeys {
    const info = (what: string, label: KeyLabel) => `jitseg/drm/v1/${this.scheme}/${what}/${label}`;
    const one = (label: KeyLabel): TrackKey => ({ kid: derive(this.seed, hash, info('kid', label), 16), key: derive(this.seed, hash, info('key', label), 16) });
    return Object.fromEntries(LABELS.map((l) => [l, one(l)])) as ContentKeys;
  }
}

function derive(seed: string, salt: string, info: string, bytes: number): string {
  return Buffer.from(hkdfSync('sha256', Buffer.from(seed, 'utf8'), Buffer.from(salt, 'utf8'), Buffer.from(info, 'utf8'), bytes)).toString('hex');
}

/**
 * The packager's IV for a segment. cenc (AES-CTR): a fresh 8-byte IV per
 * segment, since each segment is a separate packager run and a repeated IV
 * would repeat the key stream; derived from the key and the segment, so
 * every instance writes the same bytes. cbcs: the constant IV of the
 * rendition (it is in the init's tenc, which all segments share).
 */
export function segmentIv(scheme: DrmConfig['scheme'], key: TrackKey, rendition: string, segment: number | 'init'): string {
  const mac = createHmac('sha256', Buffer.from(key.key, 'hex'));
  if (scheme === 'cbcs') return mac.update(`jitseg/drm/v1/cbcs-iv/${rendition}`).digest('hex').slice(0, 32);
  return mac.update(`jitseg/drm/v1/cenc-iv/${rendition}/${segment}`).digest('hex').slice(0, 16);
}

/** "0011…" → "00112233-4455-6677-8899-aabbccddeeff" (how DASH and PSSH tools print key ids). */
export function kidUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function hexToBase64url(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64url');
}
