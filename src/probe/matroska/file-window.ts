/**
 * Sequential reads of a file in large pieces: `bytes(at, size)` gives the
 * file's bytes [at, at + size) from one window that is refilled (from `at`,
 * at least `chunk` bytes) only when the range leaves it. Few large reads
 * instead of one per element: a read through the thread pool costs far more
 * than copying a cluster's worth of bytes.
 */
import type { FileHandle } from 'node:fs/promises';

export class FileWindow {
  private buffer: Uint8Array;
  private start = 0;
  private end = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly fileSize: number,
    private readonly chunk = 8 * 1024 * 1024,
  ) {
    this.buffer = new Uint8Array(Math.min(chunk, fileSize));
  }

  /** The bytes [at, at + size), fewer when the file ends first; valid until the next call. */
  async bytes(at: number, size: number): Promise<Uint8Array> {
    const want = Math.min(size, Math.max(0, this.fileSize - at));
    if (at < this.start || at + want > this.end) await this.fill(at, want);
    return this.buffer.subarray(at - this.start, at - this.start + want);
  }

  private async fill(at: number, want: number): Promise<void> {
    const length = Math.min(Math.max(want, this.chunk), this.fileSize - at);
    if (length > this.buffer.length) this.buffer = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(this.buffer, done, length - done, at + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    this.start = at;
    this.end = at + done;
  }
}
