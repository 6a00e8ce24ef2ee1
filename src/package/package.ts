import path from 'node:path';
import { readFile, readdir } from 'node:fs/promises';
import { run, type RunOptions } from '../process/runner.js';

/**
 * The package stage: Shaka Packager turns one encoded TS span into a CMAF
 * init segment and exactly one media segment, keeping the TS timestamps
 * (tfdt on the output timeline).
 */

export function packagerArgs(inputPath: string, kind: 'video' | 'audio', initPath: string, segmentTemplatePath: string): string[] {
  return [
    `in=${inputPath},stream=${kind},init_segment=${initPath},segment_template=${segmentTemplatePath}`,
    // Longer than any span, so the whole span becomes one segment.
    '--segment_duration', '100000',
    '--quiet',
  ];
}

export interface PackagedSpan {
  init: Uint8Array;
  segment: Uint8Array;
  log: string;
}

export async function packageSpan(
  tsPath: string,
  kind: 'video' | 'audio',
  workDir: string,
  limits: Pick<RunOptions, 'stallTimeoutMs'> = {},
): Promise<PackagedSpan> {
  const initPath = path.join(workDir, `${kind}-init.mp4`);
  const template = path.join(workDir, `${kind}-$Number$.m4s`);
  // One span packages in tens of milliseconds; a minute is a hang, and so is using no CPU for the stall timeout.
  const stall = limits.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: limits.stallTimeoutMs };
  const { log } = await run('packager', packagerArgs(tsPath, kind, initPath, template), { timeoutMs: 60_000, ...stall });
  const produced = (await readdir(workDir)).filter((name) => name.startsWith(`${kind}-`) && name.endsWith('.m4s'));
  if (produced.length !== 1) throw new Error(`packager produced ${produced.length} media segments for one span`);
  const [init, segment] = await Promise.all([readFile(initPath), readFile(path.join(workDir, produced[0]!))]);
  return { init, segment, log };
}
