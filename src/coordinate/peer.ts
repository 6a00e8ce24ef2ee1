import { request } from 'undici';
import type { Logger } from '../observe/log.js';
import { sameSampleDescription } from '../package/validate.js';
import type { MediaKind } from '../store/content-store.js';
import type { InitFile, SegmentStore, StoredFile } from '../store/segment-store.js';

/**
 * The instance-to-instance protocol. An instance that holds a file (see
 * cluster.ts) is asked for it over HTTP on the ordinary content URL with
 * PEER_HEADER set; it answers from its store only (200, or 404), never
 * encoding. What comes back is believed only after the checks a local encode
 * passes: a media segment must be the planned one, and the init it was made
 * with (fetched beside it) must have the rendition's sample description:
 * ours, or, when this instance has none yet, the peer's, which then becomes
 * ours (created once, like a local one). Anything else is dropped, and the
 * caller makes the file itself.
 */

/** Header on instance-to-instance fetches: answer from the store only, never encode. */
export const PEER_HEADER = 'x-jitseg-peer';

/** Where a file is, in the URL space every instance shares. */
export interface PeerAddress {
  hash: string;
  kind: MediaKind;
  renditionId: string;
  fileName: string;
}

export interface PeerClientOptions {
  logger: Logger;
  /** The query that authorizes a fetch from a peer when URLs are signed. */
  query?: (hash: string) => Promise<string>;
}

/** A file wanted from a peer, the rendition's init, and where both are there. */
export interface PeerRequest {
  holder: string;
  file: StoredFile;
  address: PeerAddress;
  init: InitFile;
}

export interface PeerAnswer {
  bytes: Buffer;
  /** The peer's init became this instance's (announce it too). */
  adoptedInit: boolean;
}

export class PeerClient {
  constructor(
    private readonly store: SegmentStore,
    private readonly options: PeerClientOptions,
  ) {}

  /** The file from the holder, checked and stored here; undefined when it cannot give a good one. */
  async fetch(wanted: PeerRequest): Promise<PeerAnswer | undefined> {
    const { holder, file, address } = wanted;
    const initAddress = { ...address, fileName: 'init.mp4' };
    const [bytes, peerInit] = await Promise.all([this.download(holder, address), file.role === 'init' ? undefined : this.download(holder, initAddress)]);
    if (!bytes) return undefined;
    const theirInit = file.role === 'init' ? bytes : peerInit;
    const problem = this.store.problem(file, bytes) ?? this.initProblem(wanted.init, theirInit);
    if (problem) return this.refuse(holder, address, problem);
    const ours = await this.store.createInit(wanted.init, theirInit!);
    if (!sameSampleDescription(ours.init, theirInit!)) return this.refuse(holder, address, "it was made with another init segment than this rendition's");
    if (file.role === 'segment') await this.store.keep(file, bytes);
    return { bytes: file.role === 'init' ? ours.init : bytes, adoptedInit: ours.created };
  }

  private initProblem(init: InitFile, bytes: Buffer | undefined): string | undefined {
    if (!bytes) return 'the peer has no init segment to go with it';
    const problem = this.store.problem(init, bytes);
    return problem && `its init segment: ${problem}`;
  }

  private refuse(holder: string, address: PeerAddress, problem: string): undefined {
    this.options.logger.warn({ peer: holder, ...address, problem }, 'a peer sent a file that does not check out: making it here');
    return undefined;
  }

  /** One file from a peer's store; undefined when it does not have it or cannot be reached. */
  private async download(holder: string, { hash, kind, renditionId, fileName }: PeerAddress): Promise<Buffer | undefined> {
    const url = `${holder}/api/v1/content/${hash}/${kind}/${encodeURIComponent(renditionId)}/${fileName}${(await this.options.query?.(hash)) ?? ''}`;
    try {
      const response = await request(url, { headers: { [PEER_HEADER]: '1' }, headersTimeout: 5000, bodyTimeout: 30_000 });
      if (response.statusCode !== 200) {
        await response.body.dump();
        return undefined;
      }
      const bytes = Buffer.from(await response.body.arrayBuffer());
      return bytes.length > 0 ? bytes : undefined;
    } catch (err) {
      // Gone, or too slow: the next holder is asked, or the file is made here.
      this.options.logger.info({ peer: holder, file: fileName, err: (err as Error).message }, 'peer fetch failed');
      return undefined;
    }
  }
}
