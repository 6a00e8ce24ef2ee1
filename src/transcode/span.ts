import type { FfmpegProgress } from '../process/runner.js';

/** What the transcode stage's spans and runs share: their error, their limits, their output. */

export class SpanError extends Error {
  override name = 'SpanError';
  constructor(
    message: string,
    readonly log = '',
  ) {
    super(message);
  }
}

/** How a span's tools run: how long they may go without progress, and who hears of it. */
export interface SpanLimits {
  stallTimeoutMs?: number;
  onProgress?: (progress: FfmpegProgress) => void;
}

export interface EncodedSpan {
  tsPath: string;
  log: string;
}
