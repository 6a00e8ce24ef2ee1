/**
 * The players on this instance waiting for each file being made. When the
 * last one's connection closes, `onAllGone` is told (the encode queue then
 * demotes the encode: see EncodeQueue.demote). A player asking without a
 * signal counts as waiting until the file is made.
 */
export class Waiters {
  private readonly counts = new Map<string, number>();

  constructor(private readonly onAllGone: (key: string) => void) {}

  /** Counts a player waiting for `key` until `made` settles or `gone` aborts. */
  follow(key: string, made: Promise<unknown>, gone: AbortSignal | undefined): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    let counted = true;
    const leave = () => {
      if (!counted) return false;
      counted = false;
      const left = (this.counts.get(key) ?? 1) - 1;
      if (left > 0) this.counts.set(key, left);
      else this.counts.delete(key);
      return left === 0;
    };
    const onGone = () => {
      if (leave()) this.onAllGone(key);
    };
    if (gone?.aborted) return onGone();
    gone?.addEventListener('abort', onGone, { once: true });
    void made
      .finally(() => {
        gone?.removeEventListener('abort', onGone);
        leave();
      })
      .catch(() => undefined);
  }
}
