import type { Page } from 'playwright-core';

/**
 * Where a player put audio and video in MSE: the page records every
 * SourceBuffer it creates (an init script, before any player runs), and the
 * test reads each one's timestampOffset and buffered ranges. Two tracks with
 * the same timestampOffset are placed by their tfdt, which carry the A/V
 * offset to the tick.
 */

export async function recordSourceBuffers(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { sourceBuffers: Array<{ mime: string; buffer: SourceBuffer }> };
    w.sourceBuffers = [];
    const add = MediaSource.prototype.addSourceBuffer;
    MediaSource.prototype.addSourceBuffer = function (mime: string) {
      const buffer = add.call(this, mime);
      w.sourceBuffers.push({ mime, buffer });
      return buffer;
    };
  });
}

export interface Placement {
  timestampOffset: number;
  /** Start of the first buffered range (s), undefined while nothing is buffered. */
  bufferedStart: number | undefined;
}

/** The audio and the video SourceBuffer's placement (the first of each kind the page made). */
export async function sourceBufferPlacement(page: Page): Promise<{ audio?: Placement; video?: Placement }> {
  return page.evaluate(() => {
    const w = window as unknown as { sourceBuffers: Array<{ mime: string; buffer: SourceBuffer }> };
    const of = (kind: string) => {
      const found = w.sourceBuffers.find((s) => s.mime.startsWith(`${kind}/`));
      if (!found) return undefined;
      const { buffer } = found;
      return { timestampOffset: buffer.timestampOffset, bufferedStart: buffer.buffered.length > 0 ? buffer.buffered.start(0) : undefined };
    };
    const audio = of('audio');
    const video = of('video');
    return { ...(audio ? { audio } : {}), ...(video ? { video } : {}) };
  });
}
