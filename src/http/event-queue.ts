/**
 * One SSE client's waiting events, capped: a client that reads slower than
 * events arrive would otherwise hold an ever-growing queue. push() answers
 * false once the cap is reached, and the client is then dropped.
 */
export class BoundedQueue<T> {
  private readonly items: T[] = [];
  private head = 0;

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError('a queue holds at least one item');
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Adds `item`, or answers false (and adds nothing) when the queue is full. */
  push(item: T): boolean {
    if (this.length >= this.limit) return false;
    this.items.push(item);
    return true;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    // Compact now and then, so a long-lived queue does not keep what it handed out.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }
}
