import { createRequire } from 'node:module';
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
   * ffmpeg only: kill it when it reports no progress for this long (a hang:
   * a stuck decoder, a blocked read). ffmpeg reports on fd 3 every 0.5 s.
   */
  stallTimeoutMs?: number;
  /** ffmpeg only (with stallTimeoutMs): its progress reports, parsed. */
  onProgress?: (progress: FfmpegProgress) => void;
  cwd?: string;
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
  const watchProgress = tool === 'ffmpeg' && options.stallTimeoutMs !== undefined;
  const subprocess = execa(commands[tool](), watchProgress ? ['-progress', 'pipe:3', '-stats_period', '0.5', ...args] : args, {
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
  });
  if (onStdout) subprocess.stdout.on('data', onStdout);
  let stalled = false;
  let watchdog: NodeJS.Timeout | undefined;
  if (watchProgress) {
    const stallMs = options.stallTimeoutMs!;
    const rearm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        stalled = true;
        subprocess.kill('SIGKILL');
      }, stallMs);
    };
    rearm();
    let pending = '';
    (subprocess.stdio[3] as Readable | null)?.on('data', (chunk: Buffer) => {
      rearm();
      if (!options.onProgress) return;
      // Whole blocks only: a block ends with its "progress=…" line.
      pending += chunk.toString('utf8');
      const end = pending.lastIndexOf('progress=');
      const lineEnd = end < 0 ? -1 : pending.indexOf('\n', end);
      if (lineEnd < 0) return;
      for (const progress of parseProgressBlocks(pending.slice(0, lineEnd + 1))) options.onProgress(progress);
      pending = pending.slice(lineEnd + 1);
    });
    subprocess.stderr.on('data', rearm);
  }
  const result = await subprocess.finally(() => clearTimeout(watchdog));
  const log = tail(Buffer.from(result.stderr ?? new Uint8Array()).toString('utf8'));
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
