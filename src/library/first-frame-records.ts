/**
 * Which contents' first frame has decoded (decode-check.ts, run beside the
 * first encode), recorded beside their probe.json: after a restart, a
 * content loaded from its stored probe need not decode it again. The record
 * holds the probe's fingerprint, so it only vouches for that probe.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observe/log.js';
import type { ContentStore } from '../store/content-store.js';
import { isGoneError } from './source-file.js';

const FILE = 'first-frame-decoded';

export class FirstFrameRecords {
  constructor(
    private readonly store: ContentStore,
    private readonly logger: Logger | undefined,
  ) {}

  /** Whether the first frame of the content with this probe fingerprint is recorded as decoded. */
  async decoded(hash: string, fingerprint: string): Promise<boolean> {
    return (await this.store.read(path.join(this.store.contentDir(hash), FILE)))?.toString('utf8') === fingerprint;
  }

  /** Records it. Never rejects: without the record a restart decodes the frame again. */
  async record(hash: string, fingerprint: string): Promise<void> {
    try {
      // Only beside its record: if the content dir is gone (removed with the cache), do not create it again.
      await stat(this.store.contentDir(hash));
      await this.store.write(path.join(this.store.contentDir(hash), FILE), fingerprint);
    } catch (err) {
      if (!isGoneError(err)) this.logger?.warn({ content: hash, err: (err as Error).message }, 'the first-frame record was not written (a restart decodes the frame again)');
    }
  }
}
