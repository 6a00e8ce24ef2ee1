import { ServiceUnavailableError } from '../errors.js';
import { PreemptedError, ProcessLane, runInLane } from '../process/runner.js';

/**
 * The encode worker pool. A player never waits for prefetch: requests have
 * `workers` slots of their own, and prefetch runs in slots of its own
 * (`prefetchWorkers`) at the lowest CPU priority (nice 19 by default), so a request
 * always finds its worker and the CPU. The rest wait in a bounded queue.
 *
 * Three priorities: a player's start (what it needs before its first frame:
 * an init segment, segment 1, the first segment after a seek; see
 * http/start-tracker.ts) before a player's other requests, and those before
 * any prefetch. Among equals, the client with the fewest encodes running (one
 * client cannot take every worker while others wait), then first come first
 * served.
 *
 * A start waits for no other work: when every request slot is busy and one
 * holds a task that is not a start, the one that began last (the least work
 * lost) is pre-empted — its processes killed, the task back at the head of
 * its class — and the start takes its slot. When a player asks for a
 * segment whose prefetch is running, the prefetch is raised to normal
 * priority (`raise`); where the system does not allow that (no
 * CAP_SYS_NICE), it is killed and run again at the player's priority, first
 * in line (see ProcessLane).
 *
 * Overload: when the queue is full, a new prefetch is shed at once; a request
 * sheds the newest waiting prefetch, or is refused (503) when there is none;
 * a start sheds the newest waiting prefetch, else refuses the newest waiting
 * request (503) and takes its place, and is refused only when every waiting
 * task is a start. A request that has not started within `maxWaitMs` is
 * refused rather than left waiting unboundedly; a start never is: a 503
 * would only have the player ask again for the same encode (its own timeout
 * decides how long it waits, and its retry joins the encode), and next to a
 * CPU hog with one worker the starts ahead of it (one per track) took longer
 * than the deadline, refusing an audio segment 1 while prefetch waited.
 *
 * A client's prefetch (one queued with a client) does not start while that client has a start waiting
 * or running (a client's prefetch already running is not stopped). The one
 * prefetch a player needs next (NEXT_UP_PRIORITY) goes before other prefetch
 * and runs at normal CPU priority in a prefetch slot.
 *
 * An encode every player has left while it runs (`demote`: connections
 * closed, see coordinate/waiters.ts) drops to prefetch priority, its
 * processes reniced to prefetch_nice: any waiting start or request pre-empts
 * it, and it runs again in a prefetch slot; it still finishes. Not once a
 * player on another instance has asked for it (`raiseRunning`).
 *
 * A waiting prefetch can be dropped (its signal aborts) unless a player has
 * asked for the same key meanwhile: `raise` lifts a key's priority whether
 * its task is waiting already or is queued later.
 *
 * Init segments (light tasks: a few frames' encode) run in `workers` slots
 * of their own: a player's start needs its inits and its first segments at
 * once, and an init holding a segment worker made the audio segment 1 wait
 * for the video init (0.4 s of a 1.1 s cold start, measured).
 */

export const PRIORITY = { start: 200, request: 100, prefetch: 0 } as const;

/**
 * The one prefetch a player needs next once its start is made (the segment
 * after its start segment): still prefetch (its slots, dropped on a seek), but
 * before other prefetch and at normal CPU priority, since the player asks for
 * it within a segment's duration.
 */
export const NEXT_UP_PRIORITY = 50;

export type TaskReason = 'start' | 'request' | 'prefetch';

export const reasonOf = (priority: number): TaskReason => (priority >= PRIORITY.start ? 'start' : priority >= PRIORITY.request ? 'request' : 'prefetch');

/** The slots a task runs in: a player's (starts and requests), prefetch's, or an init's (light tasks at any priority). */
export type Slot = 'request' | 'prefetch' | 'init';

const slotOf = (task: Pick<Task, 'priority' | 'light'>): Slot => (task.light ? 'init' : task.priority >= PRIORITY.request ? 'request' : 'prefetch');

/** A prefetch dropped or shed: nobody waits for it, but an edge that asked for it is told to come back (503), not that we failed. */
export class DroppedError extends ServiceUnavailableError {
  override name = 'DroppedError';
  constructor(message: string) {
    super(message, RETRY_AFTER_SECONDS);
  }
}

export interface QueueLimits {
  /** Prefetch encodes at once, in slots of their own (default: as many as `workers`). */
  prefetchWorkers?: number;
  /** CPU niceness of prefetch encodes (default 19, the lowest priority; 0: as a player's). */
  prefetchNice?: number;
  /** Tasks that may wait for a worker. */
  maxWaiting: number;
  /** How long a player's request may wait for a worker before it is refused. */
  maxWaitMs: number;
  /** Told of each prefetch shed and each request refused (metrics). */
  onShed?: () => void;
  onRefused?: () => void;
}

interface Task {
  key: string;
  client: string;
  priority: number;
  seq: number;
  /** While it runs: its slot, and the lane its processes run in. */
  slot?: Slot;
  lane?: ProcessLane;
  /** While it runs: pre-empted to make room for a start. */
  cutForStart?: boolean;
  /** While it runs: when it began (the last begun is cut first: the least work lost). */
  began?: number;
  start: () => void;
  fail: (err: Error) => void;
  /** Starts the max-wait clock of a task a player waits for (once: when queued as, or raised to, a request). */
  armDeadline: () => void;
  /** A few frames' encode (an init segment): waits within a bound of its own (see QueueOptions.light). */
  light: boolean;
}

export interface QueueOptions {
  priority: number;
  /** Who asked (fairness between clients). */
  client?: string;
  /** Aborting drops the task while it waits at prefetch priority. */
  signal?: AbortSignal;
  /**
   * A few frames' encode (an init segment), a small fraction of a segment's:
   * it counts against its own maxWaiting, not the segments', and neither kind
   * makes room by shedding or refusing the other, so a player's start takes
   * no more of the segment queue than its segments.
   */
  light?: boolean;
}

/**
 * A prefetch waits while its client has a start waiting or running: nothing of the player's own competes with its
 * first frame. Work queued with no client is nobody's start and nobody's prefetch to hold.
 */
const heldForStart = (task: Task, starting: Set<string>) => task.priority < PRIORITY.request && task.client !== '' && starting.has(task.client);

/** Retry-After for refused requests: about one encode. */
const RETRY_AFTER_SECONDS = 2;

export class EncodeQueue {
  private readonly waiting: Task[] = [];
  private readonly raised = new Map<string, number>();
  /** Keys a player on another instance waits for while they encode here. */
  private readonly wantedElsewhere = new Set<string>();
  private readonly runningByClient = new Map<string, number>();
  private readonly runningTasks = new Set<Task>();
  private idleWaiters: (() => void)[] = [];
  private readonly busy: Record<Slot, number> = { request: 0, prefetch: 0, init: 0 };
  private seq = 0;
  private begun = 0;
  private shedCount = 0;
  private refusedCount = 0;
  private preemptedCount = 0;
  readonly prefetchWorkers: number;

  constructor(
    readonly workers: number,
    private readonly limits: QueueLimits = { maxWaiting: Infinity, maxWaitMs: Infinity },
    /** Makes the lane each task runs in (tests replace it to simulate a system that refuses renice). */
    private readonly newLane: (background: boolean) => ProcessLane = (background) => new ProcessLane(background, undefined, limits.prefetchNice),
  ) {
    this.prefetchWorkers = limits.prefetchWorkers || workers;
  }

  /** Runs `work` in a worker slot; `work` learns the priority it started with. */
  run<T>(key: string, work: (reason: TaskReason) => Promise<T>, options: QueueOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const client = options.client ?? '';
      let deadline: NodeJS.Timeout | undefined;
      const task: Task = {
        key,
        client,
        priority: Math.max(options.priority, this.raised.get(key) ?? -Infinity),
        seq: this.seq++,
        light: options.light ?? false,
        start: () => {
          clearTimeout(deadline);
          deadline = undefined;
          options.signal?.removeEventListener('abort', onAbort);
          this.begin(task);
          runInLane(task.lane!, () => work(reasonOf(task.priority))).then(
            (value) => {
              this.end(task);
              resolve(value);
              this.pump();
            },
            (err: unknown) => {
              const cut = err instanceof PreemptedError && task.lane!.preempted;
              this.end(task);
              // Raised where renice is not allowed, or cut for a start: again, at its priority now, keeping its place in line (its seq).
              if (cut) {
                this.waiting.unshift(task);
                // A demoted encode nobody waits for is not refused on a deadline.
                if (task.priority >= PRIORITY.request) task.armDeadline();
              } else reject(err);
              this.pump();
            },
          );
        },
        fail: (err) => {
          clearTimeout(deadline);
          options.signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
        armDeadline: () => {
          if (deadline || !Number.isFinite(this.limits.maxWaitMs)) return;
          deadline = setTimeout(() => {
            deadline = undefined;
            if (task.priority >= PRIORITY.start) return;
            if (this.remove(task)) {
              this.countRefused();
              task.fail(new ServiceUnavailableError(`no encoder free within ${Math.round(this.limits.maxWaitMs / 1000)} s`, RETRY_AFTER_SECONDS));
            }
          }, this.limits.maxWaitMs);
        },
      };
      const onAbort = () => {
        if (task.priority < PRIORITY.request && this.remove(task)) task.fail(new DroppedError(`dropped: ${key}`));
      };
      if (options.signal?.aborted && task.priority < PRIORITY.request) {
        reject(new DroppedError(`dropped: ${key}`));
        return;
      }
      const alike = this.waiting.filter((t) => t.light === task.light).length;
      if (!this.hasSlotFor(task) && alike >= this.limits.maxWaiting && !this.makeRoomFor(task)) {
        if (task.priority < PRIORITY.request) {
          this.countShed();
          reject(new DroppedError(`shed (queue full): ${key}`));
        } else {
          this.countRefused();
          reject(new ServiceUnavailableError('the encode queue is full', RETRY_AFTER_SECONDS));
        }
        return;
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      if (task.priority >= PRIORITY.request) task.armDeadline();
      this.waiting.push(task);
      this.pump();
    });
  }

  /**
   * A key is wanted at this priority now (kept until `release`): a waiting
   * task moves up, a running prefetch is raised to normal CPU priority (or
   * pre-empted and run again as a request where that is not allowed).
   */
  raise(key: string, priority: number): void {
    this.raised.set(key, Math.max(priority, this.raised.get(key) ?? -Infinity));
    for (const task of this.waiting) {
      if (task.key !== key || task.priority >= priority) continue;
      task.priority = priority;
      // A player now waits for it: the same deadline as a task queued as a request.
      if (priority >= PRIORITY.request) task.armDeadline();
    }
    if (priority < PRIORITY.request) return;
    for (const task of this.runningTasks) {
      if (task.key !== key || task.priority >= priority) continue;
      task.priority = priority;
      if (task.lane!.raise() === 'preempted') this.preemptedCount++;
    }
    // A waiting task raised to a start may need a slot cut free.
    this.pump();
  }

  /** Raises `key` only if it is encoding here now (another instance's player wants it: never demoted until it ends). */
  raiseRunning(key: string): void {
    for (const task of this.runningTasks) {
      if (task.key !== key) continue;
      this.wantedElsewhere.add(key);
      if (task.priority < PRIORITY.request) return this.raise(key, PRIORITY.request);
    }
  }

  /**
   * Every player that waited for `key` has gone: its running encode drops to prefetch priority (its processes
   * reniced to prefetch_nice) and any waiting start or request may pre-empt it; it still finishes and is stored.
   * Not while a player on another instance waits for it (`raiseRunning`).
   */
  demote(key: string): void {
    if (this.wantedElsewhere.has(key)) return;
    this.raised.delete(key);
    for (const task of this.runningTasks) {
      if (task.key !== key || task.priority < PRIORITY.request) continue;
      task.priority = PRIORITY.prefetch;
      task.lane!.lower();
    }
    this.pump();
  }

  /** Whether a player waits for `key` (it was raised to request priority). */
  isWanted(key: string): boolean {
    return (this.raised.get(key) ?? -Infinity) >= PRIORITY.request;
  }

  release(key: string): void {
    this.raised.delete(key);
    this.wantedElsewhere.delete(key);
  }

  /** Drops every waiting task (at shutdown); running ones finish. */
  dropWaiting(): void {
    for (const task of this.waiting.splice(0)) task.fail(new DroppedError(`dropped at shutdown: ${task.key}`));
  }

  /** Resolves once no task runs (at shutdown, after `dropWaiting`: nothing writes into the cache after close). */
  async idle(): Promise<void> {
    while (this.runningTasks.size > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Tasks waiting for a worker. */
  get depth(): number {
    return this.waiting.length;
  }

  /** Tasks waiting, by priority class (status, tests). */
  get waitingByReason(): Record<TaskReason, number> {
    const counts: Record<TaskReason, number> = { start: 0, request: 0, prefetch: 0 };
    for (const task of this.waiting) counts[reasonOf(task.priority)]++;
    return counts;
  }

  /** Tasks running. */
  get running(): number {
    return this.busy.request + this.busy.prefetch + this.busy.init;
  }

  /** Running tasks killed to run again: a prefetch raised where renice was not allowed, or work cut for a start. */
  get preempted(): number {
    return this.preemptedCount;
  }

  /** Prefetch tasks shed because the queue was full. */
  get shed(): number {
    return this.shedCount;
  }

  /** Player requests refused (queue full, or no worker in time). */
  get refused(): number {
    return this.refusedCount;
  }

  private countShed(): void {
    this.shedCount++;
    this.limits.onShed?.();
  }

  private countRefused(): void {
    this.refusedCount++;
    this.limits.onRefused?.();
  }

  /**
   * A full queue takes a request or a start by shedding its newest waiting
   * prefetch; a start, when none waits, by refusing the newest waiting request.
   */
  private makeRoomFor(task: Task): boolean {
    if (task.priority < PRIORITY.request) return false;
    const prefetch = this.newestWaiting(PRIORITY.request, task.light);
    if (prefetch) {
      this.remove(prefetch);
      this.countShed();
      prefetch.fail(new DroppedError(`shed for a request: ${prefetch.key}`));
      return true;
    }
    const request = task.priority >= PRIORITY.start ? this.newestWaiting(PRIORITY.start, task.light) : undefined;
    if (!request) return false;
    this.remove(request);
    this.countRefused();
    request.fail(new ServiceUnavailableError('the encode queue is full (a player starting took this place)', RETRY_AFTER_SECONDS));
    return true;
  }

  /** The newest waiting task below `priority` of the same weight (light or not). */
  private newestWaiting(priority: number, light: boolean): Task | undefined {
    let victim: Task | undefined;
    for (const t of this.waiting) if (t.light === light && t.priority < priority && (!victim || t.seq > victim.seq)) victim = t;
    return victim;
  }

  /**
   * Pre-empts work in player slots, one task per waiting player task that has no slot coming: for a start, the
   * non-start begun last; for a request, a demoted encode (nobody waits for it) begun last.
   */
  private cutForPlayers(): void {
    // Inits wait for init slots only: cutting segment work would not give them one.
    const needy = this.waiting.filter((t) => t.priority >= PRIORITY.request && !t.light).sort((a, b) => b.priority - a.priority);
    let coming = 0;
    for (const t of this.runningTasks) if (t.cutForStart) coming++;
    for (const task of needy.slice(coming)) {
      const below = task.priority >= PRIORITY.start ? PRIORITY.start : PRIORITY.request;
      let victim: Task | undefined;
      for (const t of this.runningTasks) {
        if (t.slot !== 'request' || t.priority >= below || t.cutForStart) continue;
        if (!victim || t.began! > victim.began!) victim = t;
      }
      if (!victim) continue;
      victim.cutForStart = true;
      victim.lane!.preempt();
      this.preemptedCount++;
    }
  }

  private remove(task: Task): boolean {
    const at = this.waiting.indexOf(task);
    if (at < 0) return false;
    this.waiting.splice(at, 1);
    return true;
  }

  private hasSlotFor(task: Task): boolean {
    const slot = slotOf(task);
    return this.busy[slot] < (slot === 'prefetch' ? this.prefetchWorkers : this.workers);
  }

  /** Takes a slot for the task, in a lane of the slot's priority. */
  private begin(task: Task): void {
    task.slot = slotOf(task);
    // The next-up prefetch runs in a prefetch slot at normal CPU priority; a prefetched init at prefetch's.
    task.lane = this.newLane(task.priority < (task.slot === 'prefetch' ? NEXT_UP_PRIORITY : PRIORITY.request));
    task.cutForStart = false;
    task.began = this.begun++;
    this.busy[task.slot]++;
    this.runningTasks.add(task);
    this.runningByClient.set(task.client, (this.runningByClient.get(task.client) ?? 0) + 1);
  }

  /** Gives the slot back (a raised prefetch gives back the prefetch slot it ran in). */
  private end(task: Task): void {
    this.busy[task.slot!]--;
    this.runningTasks.delete(task);
    if (this.runningTasks.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    const left = (this.runningByClient.get(task.client) ?? 1) - 1;
    if (left > 0) this.runningByClient.set(task.client, left);
    else this.runningByClient.delete(task.client);
  }

  /** Clients with a start waiting or running. */
  private clientsStarting(): Set<string> {
    const starting = new Set<string>();
    for (const t of this.waiting) if (t.priority >= PRIORITY.start) starting.add(t.client);
    for (const t of this.runningTasks) if (t.priority >= PRIORITY.start) starting.add(t.client);
    return starting;
  }

  private pump(): void {
    for (;;) {
      let best = -1;
      const starting = this.clientsStarting();
      for (let i = 0; i < this.waiting.length; i++) {
        const task = this.waiting[i]!;
        if (this.hasSlotFor(task) && !heldForStart(task, starting) && (best < 0 || this.before(task, this.waiting[best]!))) best = i;
      }
      if (best < 0) return this.cutForPlayers();
      const [task] = this.waiting.splice(best, 1);
      task!.start();
    }
  }

  private before(a: Task, b: Task): boolean {
    if (a.priority !== b.priority) return a.priority > b.priority;
    const ra = this.runningByClient.get(a.client) ?? 0;
    const rb = this.runningByClient.get(b.client) ?? 0;
    if (ra !== rb) return ra < rb;
    return a.seq < b.seq;
  }
}
