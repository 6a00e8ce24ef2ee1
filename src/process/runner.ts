import { AsyncLocalStorage } from 'node:async_hooks';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { execa } from 'execa';

/**
 * The one place that starts ffmpeg, ffprobe and Shaka Packager. Everything
 * else describes a command line (pure, testable) and hands it here.
 */

export type Tool = 'ffmpeg' | 'ffprobe' | 'packager';

export class ProcessError extends Error {
  override name = 'ProcessError';
  constructor(
    readonly tool: Tool,
    message: string,
    /** The tail of the tool's stderr, kept for the logs endpoint and error bodies. */
    readonly log: string,
    readonly exitCode?: number,
    readonly timedOut = false,
    /** Killed for making no progress (a hang), as opposed to running too long overall. */
    readonly stalled = false,
  ) {
    super(message);
  }
}

/** The work of a lane was cut short to start again at normal priority (see ProcessLane). */
export class PreemptedError extends Error {
  override name = 'PreemptedError';
}

/** The caller stopped the tool on purpose (RunOptions.signal): an encode run that has made what it should. */
export class StoppedError extends Error {
  override name = 'StoppedError';
}

/** Niceness of background work (prefetch) unless configured: the lowest CPU priority. */
export const BACKGROUND_NICE = 19;

/**
 * The processes of one encode slot and the CPU priority they run at. A
 * background lane starts every process at nice 19, which anyone may do, so
 * a player's encode at normal priority takes the CPU from it at once.
 * raise() brings the lane to normal priority, renicing every thread of its
 * running processes; the kernel allows that only with CAP_SYS_NICE (or a
 * raised RLIMIT_NICE). Without it the lane is pre-empted instead: its
 * processes are killed, they and any later one in the lane fail with
 * PreemptedError, and the slot's owner starts the work again at normal
 * priority in a new lane.
 */
export class ProcessLane {
  private readonly live = new Map<number, () => void>();
  private cut = false;
  private lowPriority: boolean;

  constructor(
    background: boolean,
    /** os.setPriority; replaceable to test a machine without the privilege. */
    private readonly setPriority: (pid: number, priority: number) => void = os.setPriority,
    /** The niceness of a background lane (1-19). */
    readonly niceness = BACKGROUND_NICE,
  ) {
    this.lowPriority = background && niceness > 0;
  }

  get background(): boolean {
    return this.lowPriority;
  }

  get preempted(): boolean {
    return this.cut;
  }

  /** Normal priority from now on, for running processes too; 'preempted' when that was not allowed. */
  raise(): 'raised' | 'preempted' {
    if (!this.lowPriority || this.cut) return this.cut ? 'preempted' : 'raised';
    this.lowPriority = false;
    try {
      for (const pid of this.live.keys()) for (const tid of threadsOf(pid)) this.renice(tid);
      return 'raised';
    } catch (err) {
      if (!isPermissionError(err)) throw err;
      this.preempt();
      return 'preempted';
    }
  }

  /**
   * Background priority from now on, for running processes too (work nobody waits for any more). Lowering one's
   * own priority needs no privilege.
   */
  lower(): void {
    if (this.lowPriority || this.cut || this.niceness <= 0) return;
    this.lowPriority = true;
    for (const pid of this.live.keys()) for (const tid of threadsOf(pid)) this.renice(tid, this.niceness);
  }

  /** Kills the lane's processes; they and later ones fail with PreemptedError. */
  preempt(): void {
    this.cut = true;
    for (const kill of this.live.values()) kill();
  }

  /** @internal the runner's bookkeeping */
  track(pid: number, kill: () => void): void {
    this.live.set(pid, kill);
  }

  /** @internal */
  untrack(pid: number): void {
    this.live.delete(pid);
  }

  private renice(tid: number, niceness = 0): void {
    try {
      this.setPriority(tid, niceness);
    } catch (err) {
      // A thread that ended meanwhile needs no raising.
      if (systemErrorCode(err) !== 'ESRCH') throw err;
    }
  }
}

const systemErrorCode = (err: unknown): string | undefined =>
  (err as { info?: { code?: string } }).info?.code ?? (err as NodeJS.ErrnoException).code;

const isPermissionError = (err: unknown) => ['EACCES', 'EPERM'].includes(systemErrorCode(err) ?? '');

/** Niceness is per thread on Linux: every thread of a process is reniced, not just its main one. */
function threadsOf(pid: number): number[] {
  if (process.platform !== 'linux') return [pid];
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return []; // the process has ended
  }
}

const lanes = new AsyncLocalStorage<ProcessLane>();

/**
 * Runs `work` in `lane`: every process it starts, through any number of
 * calls (ffmpeg passes, retries, the packager), runs at the lane's priority
 * and can be pre-empted with it, without each stage passing the lane on.
 */
export function runInLane<T>(lane: ProcessLane, work: () => Promise<T>): Promise<T> {
  return lanes.run(lane, work);
}

const PACKAGER_BINARIES: Record<string, string> = {
  'linux-x64': 'packager-linux-x64',
  'linux-arm64': 'packager-linux-arm64',
  'darwin-x64': 'packager-osx-x64',
  'darwin-arm64': 'packager-osx-arm64',
  'win32-x64': 'packager-win-x64.exe',
};

/** The packager binary shipped in the npm package `shaka-packager`. */
export function packagerPath(): string {
  const binary = PACKAGER_BINARIES[`${process.platform}-${process.arch}`];
  if (!binary) throw new Error(`shaka-packager ships no binary for ${process.platform}-${process.arch}`);
  const packageJson = createRequire(import.meta.url).resolve('shaka-packager/package.json');
  return path.join(path.dirname(packageJson), 'bin', binary);
}

const commands: Record<Tool, () => string> = {
  ffmpeg: () => process.env.JITSEG_FFMPEG ?? 'ffmpeg',
  ffprobe: () => process.env.JITSEG_FFPROBE ?? 'ffprobe',
  packager: () => process.env.JITSEG_PACKAGER ?? packagerPath(),
};

/** Keeps logs bounded: ffmpeg can print megabytes on a broken file. */
const MAX_LOG_CHARS = 16_384;
const tail = (text: string) => (text.length > MAX_LOG_CHARS ? '…' + text.slice(-MAX_LOG_CHARS) : text);

export interface RunOptions {
  /** Bytes written to the tool's stdin. */
  input?: Uint8Array;
  /** Kill the tool after this long (default 120 s). */
  timeoutMs?: number;
  /**
   * Kill the tool when it makes no progress for this long (a hang: a stuck
   * decoder, a blocked read, a stopped process). ffmpeg's progress is its
   * reports on fd 3 (every 0.5 s); another tool's is the CPU time it uses
   * (Linux /proc; elsewhere only timeoutMs applies).
   */
  stallTimeoutMs?: number;
  /** ffmpeg only (with stallTimeoutMs): its progress reports, parsed. */
  onProgress?: (progress: FfmpegProgress) => void;
  cwd?: string;
  /** The lane to run in (default: the one runInLane set, if any). */
  lane?: ProcessLane;
  /** Kills the tool (SIGKILL) when aborted: run rejects with StoppedError. */
  signal?: AbortSignal;
}

export interface FfmpegProgress {
  /** Output timestamp reached, seconds (on the output timeline). */
  outSeconds: number;
  /** Encoding speed, × real time (0 when not known yet). */
  speed: number;
}

/** ffmpeg -progress blocks ("key=value" lines, each block ending with progress=continue|end). */
export function parseProgressBlocks(text: string): FfmpegProgress[] {
  const out: FfmpegProgress[] = [];
  let outSeconds: number | undefined;
  let speed = 0;
  for (const line of text.split('\n')) {
    const [key, value = ''] = line.trim().split('=');
    if (key === 'out_time_us' && /^-?\d+$/.test(value)) outSeconds = Number(value) / 1e6;
    else if (key === 'speed') speed = Number.parseFloat(value) || 0;
    else if (key === 'progress') {
      if (outSeconds !== undefined) out.push({ outSeconds, speed });
      outSeconds = undefined;
      speed = 0;
    }
  }
  return out;
}

export interface RunResult {
  stdout: Uint8Array;
  log: string;
}

export async function run(tool: Tool, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return runWith(tool, args, options);
}

/**
 * run, handing stdout to `onStdout` chunk by chunk instead of buffering it
 * (for outputs of hundreds of megabytes). RunResult.stdout is then empty.
 */
export async function runStreaming(
  tool: Tool,
  args: readonly string[],
  onStdout: (chunk: Uint8Array) => void,
  options: RunOptions = {},
): Promise<RunResult> {
  return runWith(tool, args, options, onStdout);
}

async function runWith(tool: Tool, args: readonly string[], options: RunOptions, onStdout?: (chunk: Uint8Array) => void): Promise<RunResult> {
  const lane = options.lane ?? lanes.getStore();
  if (lane?.preempted) throw new PreemptedError(`${tool} not started: its work was pre-empted`);
  const watchProgress = tool === 'ffmpeg' && options.stallTimeoutMs !== undefined;
  const toolArgs = watchProgress ? ['-progress', 'pipe:3', '-stats_period', '0.5', ...args] : args;
  // nice(1) starts the process, and so every thread it makes, at the low priority.
  const niced = lane?.background === true && process.platform !== 'win32';
  const subprocess = execa(niced ? 'nice' : commands[tool](), niced ? ['-n', String(lane.niceness), commands[tool](), ...toolArgs] : toolArgs, {
    encoding: 'buffer',
    reject: false,
    // fd 3 carries ffmpeg's progress reports when they are watched.
    stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe', watchProgress ? 'pipe' : 'ignore'],
    ...(options.input ? { input: options.input } : {}),
    timeout: options.timeoutMs ?? 120_000,
    killSignal: 'SIGKILL',
    maxBuffer: 512 * 1024 * 1024,
    buffer: { stdout: onStdout === undefined, stderr: true, fd3: false },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.signal ? { cancelSignal: options.signal } : {}),
  });
  const pid = subprocess.pid;
  let preempted = false;
  if (lane && pid !== undefined) {
    lane.track(pid, () => {
      preempted = true;
      subprocess.kill('SIGKILL');
    });
    if (lane.background && !niced) os.setPriority(pid, lane.niceness);
  }
  if (onStdout) subprocess.stdout.on('data', onStdout);
  let stalled = false;
  const onStall = () => {
    stalled = true;
    subprocess.kill('SIGKILL');
  };
  const stopWatching =
    options.stallTimeoutMs === undefined
      ? () => {}
      : watchProgress
        ? watchFfmpegProgress(subprocess.stdio[3] as Readable | null, subprocess.stderr, options.stallTimeoutMs, onStall, options.onProgress)
        : watchCpuTime(pid, options.stallTimeoutMs, onStall);
  const result = await subprocess.finally(() => {
    stopWatching();
    if (pid !== undefined) lane?.untrack(pid);
  });
  const log = tail(Buffer.from(result.stderr ?? new Uint8Array()).toString('utf8'));
  if (preempted) throw new PreemptedError(`${tool} was pre-empted to run again at normal priority`);
  if (options.signal?.aborted) throw new StoppedError(`${tool} was stopped`);
  if (stalled) throw new ProcessError(tool, `${tool} stalled: no progress for ${options.stallTimeoutMs} ms`, log, undefined, true, true);
  if (result.timedOut) throw new ProcessError(tool, `${tool} timed out after ${options.timeoutMs ?? 120_000} ms`, log, undefined, true);
  if (result.failed) {
    const lastLine = log.trim().split('\n').pop() ?? '';
    // Never the command line: it names paths on this machine, and the message reaches clients.
    const detail =
      result.exitCode !== undefined ? `exited with code ${result.exitCode}` : result.signal ? `was killed by ${result.signal}` : 'failed to start';
    throw new ProcessError(tool, `${tool} ${detail}${lastLine ? `: ${lastLine}` : ''}`, log, result.exitCode);
  }
  return { stdout: onStdout ? new Uint8Array() : (result.stdout ?? new Uint8Array()), log };
}

/** Calls onStall when ffmpeg sends neither a progress report nor a log line for stallMs. Returns the stop function. */
function watchFfmpegProgress(
  reports: Readable | null,
  stderr: Readable,
  stallMs: number,
  onStall: () => void,
  onProgress: ((progress: FfmpegProgress) => void) | undefined,
): () => void {
  let watchdog: NodeJS.Timeout | undefined;
  const rearm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(onStall, stallMs);
  };
  rearm();
  let pending = '';
  reports?.on('data', (chunk: Buffer) => {
    rearm();
    if (!onProgress) return;
    // Whole blocks only: a block ends with its "progress=…" line.
    pending += chunk.toString('utf8');
    const end = pending.lastIndexOf('progress=');
    const lineEnd = end < 0 ? -1 : pending.indexOf('\n', end);
    if (lineEnd < 0) return;
    for (const progress of parseProgressBlocks(pending.slice(0, lineEnd + 1))) onProgress(progress);
    pending = pending.slice(lineEnd + 1);
  });
  stderr.on('data', rearm);
  return () => clearTimeout(watchdog);
}

/**
 * Calls onStall when the process uses no CPU for stallMs: stopped, or
 * blocked on something that never comes. The packager prints nothing while
 * it works (--quiet), so its CPU time is its progress. A niced process next
 * to a busy machine still gets its small share, and so still counts as
 * working. Linux only (/proc); elsewhere nothing is watched.
 */
function watchCpuTime(pid: number | undefined, stallMs: number, onStall: () => void): () => void {
  if (pid === undefined || process.platform !== 'linux') return () => {};
  let lastTicks = -1;
  let lastChange = performance.now();
  let stopped = false;
  const timer = setInterval(() => {
    void cpuTicks(pid).then((ticks) => {
      if (stopped || ticks === undefined) return;
      const now = performance.now();
      if (ticks !== lastTicks) {
        lastTicks = ticks;
        lastChange = now;
      } else if (now - lastChange >= stallMs) {
        stopped = true;
        clearInterval(timer);
        onStall();
      }
    });
  }, Math.max(50, Math.min(1000, stallMs / 5)));
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/** CPU time a process and its waited-for children have used, in clock ticks; undefined once it is gone. */
async function cpuTicks(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) return undefined;
  // Fields after the command name (which may hold spaces): state is the first; utime, stime, cutime, cstime the 12th to 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields.slice(11, 15).reduce((sum, field) => sum + Number(field), 0);
}
