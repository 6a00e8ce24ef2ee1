import { EncodeError } from '../errors.js';
import { ProcessError } from '../process/runner.js';
import { SpanError } from './transcode.js';

/** How a failed encode try is read: whose fault, and whether more disk would help. */

/** A full disk, as Node reports it or as ffmpeg and the packager say it. */
export function isOutOfSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  const log = err instanceof ProcessError || err instanceof SpanError ? err.log : '';
  return /No space left on device|Disk quota exceeded|running out of disk space/i.test(`${(err as Error)?.message ?? ''}\n${log}`);
}

/**
 * Whether a failed try can be the media's fault: a tool that ran and refused it (an exit code), or output that does
 * not match the plan. Not a tool that could not start, was killed (a signal: the OOM killer, an operator), hung or ran
 * too long: those say nothing about the file, and must not mark it unplayable.
 */
export function saysSomethingAboutTheMedia(err: unknown): boolean {
  if (err instanceof ProcessError) return err.exitCode !== undefined && !err.stalled && !err.timedOut;
  return err instanceof EncodeError || err instanceof SpanError;
}
