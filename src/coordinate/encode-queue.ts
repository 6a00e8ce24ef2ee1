/**
 * The encode worker pool: at most `workers` encodes at once, the rest wait
 * in priority order (a player's request before any prefetch, then first come
 * first served). A waiting prefetch can be dropped (its signal aborts) unless
 * a player has asked for the same key meanwhile: `raise` lifts a key's
 * priority whether its task is waiting already or is queued later.
 */

export const PRIORITY = { request: 100, prefetch: 0 } as const;

export type TaskReason = 'request' | 'prefetch';

export const reasonOf = (priority: number): TaskReason => (priority >= PRIORITY.request ? 'request' : 'prefetch');

export class DroppedError extends Error {
  override name = 'DroppedError';
}

interface Task {
  key: string;
  priority: number;
  seq: number;
  start: () => void;
  drop: () => void;
}

export interface QueueOptions {
  priority: number;
  /** Aborting drops the task while it waits at prefetch priority. */
  signal?: AbortSignal;
}

export class EncodeQueue {
  private readonly waiting: Task[] = [];
  private readonly raised = new Map<string, number>();
  private active = 0;
  private seq = 0;

  constructor(readonly workers: number) {}

  /** Runs `work` in a worker slot; `work` learns the priority it started with. */
  run<T>(key: string, work: (reason: TaskReason) => Promise<T>, options: QueueOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const task: Task = {
        key,
        priority: Math.max(options.priority, this.raised.get(key) ?? -Infinity),
        seq: this.seq++,
        start: () => {
          options.signal?.removeEventListener('abort', onAbort);
          this.active++;
          work(reasonOf(task.priority))
            .then(resolve, reject)
            .finally(() => {
              this.active--;
              this.pump();
            });
        },
        drop: () => reject(new DroppedError(`dropped: ${key}`)),
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(task);
        if (at >= 0 && task.priority < PRIORITY.request) {
          this.waiting.splice(at, 1);
          task.drop();
        }
      };
      if (options.signal?.aborted && task.priority < PRIORITY.request) {
        task.drop();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(task);
      this.pump();
    });
  }

  /** A key is wanted at this priority now (kept until `release`). */
  raise(key: string, priority: number): void {
    this.raised.set(key, Math.max(priority, this.raised.get(key) ?? -Infinity));
    for (const task of this.waiting) if (task.key === key && task.priority < priority) task.priority = priority;
  }

  release(key: string): void {
    this.raised.delete(key);
  }

  /** Drops every waiting task (at shutdown); running ones finish. */
  dropWaiting(): void {
    for (const task of this.waiting.splice(0)) task.drop();
  }

  /** Tasks waiting for a worker. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Tasks running. */
  get running(): number {
    return this.active;
  }

  private pump(): void {
    while (this.active < this.workers && this.waiting.length > 0) {
      let best = 0;
      for (let i = 1; i < this.waiting.length; i++) {
        const t = this.waiting[i]!;
        const b = this.waiting[best]!;
        if (t.priority > b.priority || (t.priority === b.priority && t.seq < b.seq)) best = i;
      }
      const [task] = this.waiting.splice(best, 1);
      task!.start();
    }
  }
}
