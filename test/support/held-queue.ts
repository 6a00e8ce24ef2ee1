import { EncodeQueue, type QueueLimits, type QueueOptions, type TaskReason } from '../../src/coordinate/encode-queue.js';
import { PreemptedError, ProcessLane } from '../../src/process/runner.js';

/**
 * An EncodeQueue for scheduling proofs by order and outcome, never by
 * durations: its tasks run no process, each waits at a gate per key that the
 * test opens, logs when it starts, and gives way when pre-empted (as an
 * encode sees its ffmpeg killed).
 */

export const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
};

/** Lets pending promise callbacks (a cut task's rejection and re-queueing) run. */
export const settle = () => new Promise<void>((r) => setImmediate(r));

/**
 * A lane with no processes whose pre-emption the held work sees;
 * `refuseRenice`: a system without CAP_SYS_NICE, where raising a background
 * lane pre-empts it.
 */
export class TestLane extends ProcessLane {
  readonly gaveWay = gate();
  constructor(background: boolean, private readonly refuseRenice = false) {
    super(background);
  }
  override raise(): 'raised' | 'preempted' {
    if (this.refuseRenice && this.background && !this.preempted) {
      this.preempt();
      return 'preempted';
    }
    return super.raise();
  }
  override preempt(): void {
    super.preempt();
    this.gaveWay.open();
  }
}

export interface HeldQueueOptions {
  limits?: QueueLimits;
  refuseRenice?: boolean;
  /** Held work that does not give way when pre-empted (it runs on until its gate opens). */
  ignoreCut?: boolean;
  /** Log `key:reason:nice|normal` (the lane's CPU priority) instead of `key:reason`. */
  logLane?: boolean;
}

export function heldQueue(workers: number, options: HeldQueueOptions = {}) {
  const lanes: TestLane[] = [];
  const queue = new EncodeQueue(workers, options.limits ?? { maxWaiting: Infinity, maxWaitMs: Infinity }, (background) => {
    const lane = new TestLane(background, options.refuseRenice);
    lanes.push(lane);
    return lane;
  });
  const started: string[] = [];
  const laneOf = new Map<string, TestLane>();
  const holds = new Map<string, ReturnType<typeof gate>>();
  const submit = (key: string, priority: number, more: Omit<QueueOptions, 'priority'> = {}) => {
    holds.set(key, gate());
    return queue.run(
      key,
      async (reason: TaskReason) => {
        const lane = lanes.at(-1)!; // begin() makes the task's lane just before it runs the work
        laneOf.set(key, lane);
        started.push(options.logLane ? `${key}:${reason}:${lane.background ? 'nice' : 'normal'}` : `${key}:${reason}`);
        const cut = options.ignoreCut ? new Promise<never>(() => {}) : lane.gaveWay.opened.then(() => Promise.reject(new PreemptedError('cut')));
        await Promise.race([holds.get(key)!.opened, cut]);
        return key;
      },
      { priority, ...more },
    );
  };
  const open = (key: string) => holds.get(key)!.open();
  return { queue, lanes, laneOf, started, submit, open };
}
