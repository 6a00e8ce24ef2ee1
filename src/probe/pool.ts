/**
 * Probes run in worker threads, never on the event loop that answers
 * requests: a crafted file may make a probe spend seconds of CPU or
 * hundreds of megabytes, and /healthz (and every other request) must not
 * wait for it. Each probe gets its own worker for its duration (workers are
 * kept for the next probe), a time budget (the worker is terminated past it)
 * and a V8 heap cap; either one exceeded is the file's fault (415).
 *
 * A probe waits for a free worker in a bounded queue; a full queue is our
 * own overload, not the file's fault, and is answered 503 + Retry-After.
 */
import { Worker } from 'node:worker_threads';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ServiceUnavailableError } from '../errors.js';
import { ProbeError } from './errors.js';
import { PROBE_BUDGET } from './limits.js';
import type { ProbeResult } from './types.js';
import type { FirstFrameCheck } from './decode-check.js';
import { fromWire, type ProbeReply, type ProbeRequest } from './wire.js';

const BOOT = fileURLToPath(new URL('./worker-boot.mjs', import.meta.url));
/** The worker entry next to this module, as TypeScript (run from the sources) or compiled JavaScript. */
const ENTRY = pathToFileURL(fileURLToPath(new URL(`./worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url))).href;
/**
 * The tools a probe runs stop at its deadline by themselves (and the probe
 * reports why); the worker is terminated only if it has not answered this
 * long after (its own code stuck past the deadline).
 */
const TERMINATE_GRACE_MS = 2_000;

/**
 * For tests: `onStart` is told when a probe is handed to its worker; while
 * `hold[0]` is 1 the worker thread waits before probing (blocked, as a
 * worker busy with a heavy file is), so a test can prove by event order
 * that requests are answered meanwhile.
 */
export const probeTestHooks: { hold?: Int32Array; onStart?: (path: string) => void } = {};

/** A probe, and its first-frame decode check, not run yet (the worker leaves it to the caller). */
export interface ProbedSource {
  probe: ProbeResult;
  firstFrame: FirstFrameCheck;
}

interface Job {
  path: string;
  resolve: (probed: ProbedSource) => void;
  reject: (err: unknown) => void;
}

class ProbeWorkerPool {
  private readonly idle: Worker[] = [];
  private readonly queue: Job[] = [];
  private running = 0;
  private nextId = 1;

  probe(path: string): Promise<ProbedSource> {
    return new Promise<ProbedSource>((resolve, reject) => {
      const job: Job = { path, resolve, reject };
      if (this.running < PROBE_BUDGET.workers) this.start(job);
      else if (this.queue.length < PROBE_BUDGET.queue) this.queue.push(job);
      else reject(new ServiceUnavailableError(`all ${PROBE_BUDGET.workers} probe workers are busy and ${PROBE_BUDGET.queue} probes are waiting`, 2));
    });
  }

  /**
   * Starts a worker ahead of the first probe, so that probe does not wait
   * for the worker to load or run cold code; resolves once it has loaded and
   * warmed up (or failed to: the next probe then starts another).
   */
  warm(): Promise<void> {
    if (this.idle.length > 0 || this.running > 0) return Promise.resolve();
    const worker = this.spawn(true);
    this.idle.push(worker);
    return new Promise<void>((resolve) => {
      worker.once('message', () => resolve()).once('error', () => resolve()).once('exit', () => resolve());
    });
  }

  /** `warm`: the worker warms up its MP4 analysis before it takes a probe (mp4/warm-up.ts). */
  private spawn(warm = false): Worker {
    const worker = new Worker(BOOT, {
      workerData: { entry: ENTRY, warm },
      resourceLimits: { maxOldGenerationSizeMb: PROBE_BUDGET.heapMb },
      stdout: false,
      stderr: false,
    });
    worker.unref();
    // An idle worker that dies is dropped; a busy one is handled by its job's listeners.
    worker.on('error', () => this.drop(worker));
    worker.on('exit', () => this.drop(worker));
    return worker;
  }

  private drop(worker: Worker): void {
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
  }

  private start(job: Job): void {
    this.running++;
    const worker = this.idle.pop() ?? this.spawn();
    worker.ref();
    const request: ProbeRequest = { id: this.nextId++, path: job.path, deadline: Date.now() + PROBE_BUDGET.timeMs, ...(probeTestHooks.hold ? { hold: probeTestHooks.hold } : {}) };
    let done = false;
    const finish = (keepWorker: boolean, settle: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      if (keepWorker) {
        worker.unref();
        this.idle.push(worker);
      } else {
        void worker.terminate();
      }
      this.running--;
      settle();
      const next = this.queue.shift();
      if (next) this.start(next);
    };
    const onMessage = (reply: ProbeReply) => {
      if (reply.id === request.id) finish(true, () => settleReply(job, reply));
    };
    const onError = (err: Error) => finish(false, () => job.reject(workerFailure(err)));
    const onExit = (code: number) => finish(false, () => job.reject(new Error(`a probe worker exited unexpectedly (code ${code})`)));
    const timer = setTimeout(() => {
      const seconds = PROBE_BUDGET.timeMs / 1000;
      finish(false, () => job.reject(new ProbeError('impossible', `probing it took longer than the ${seconds} s budget`)));
    }, PROBE_BUDGET.timeMs + TERMINATE_GRACE_MS);
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    worker.postMessage(request);
    probeTestHooks.onStart?.(job.path);
  }
}

function settleReply(job: Job, reply: ProbeReply): void {
  if (reply.ok) job.resolve({ probe: fromWire(reply.probe), firstFrame: reply.firstFrame });
  else if ('probeError' in reply) job.reject(new ProbeError(reply.probeError.kind, reply.probeError.reason));
  else job.reject(new Error(`probe failed: ${reply.error}`));
}

function workerFailure(err: Error): Error {
  if ((err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY') {
    return new ProbeError('impossible', `probing it needed more than the ${PROBE_BUDGET.heapMb} MB memory budget`, { cause: err });
  }
  return err;
}

export const probeWorkers = new ProbeWorkerPool();
