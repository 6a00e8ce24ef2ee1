import path from 'node:path';
import { readFile, readdir } from 'node:fs/promises';
import { run, type RunOptions } from '../process/runner.js';

/**
 * The package stage: Shaka Packager turns one encoded TS span into a CMAF
 * init segment and exactly one media segment, keeping the TS timestamps
 * (tfdt on the output timeline).
 */

/**
 * How a span is encrypted (protected content): one key for the whole span,
 * from its first sample (clear lead 0), with the IV given (see drm/keys.ts
 * segmentIv) and the PSSH boxes given, so every instance writes the same bytes.
 */
export interface SpanEncryption {
  scheme: 'cenc' | 'cbcs';
  kid: string;
  key: string;
  iv: string;
  /** Concatenated PSSH boxes for the init segment. */
  pssh: Uint8Array;
}

export function packagerArgs(inputPath: string, kind: 'video' | 'audio', initPath: string, segmentTemplatePath: string, encryption?: SpanEncryption): string[] {
  return [
    `in=${inputPath},stream=${kind},init_segment=${initPath},segment_template=${segmentTemplatePath}${encryption ? `,drm_label=${kind.toUpperCase()}` : ''}`,
    // Longer than any span, so the whole span becomes one segment.
    '--segment_duration', '100000',
    '--quiet',
    ...(encryption ? encryptionArgs(kind, encryption) : []),
  ];
}

function encryptionArgs(kind: 'video' | 'audio', e: SpanEncryption): string[] {
  return [
    '--enable_raw_key_encryption',
    '--protection_scheme', e.scheme,
    '--clear_lead', '0',
    '--keys', `label=${kind.toUpperCase()}:key_id=${e.kid}:key=${e.key}`,
    '--iv', e.iv,
    '--pssh', Buffer.from(e.pssh).toString('hex'),
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
  encryption?: SpanEncryption,
): Promise<PackagedSpan> {
  const initPath = path.join(workDir, `${kind}-init.mp4`);
  const template = path.join(workDir, `${kind}-$Number$.m4s`);
  // One span packages in tens of milliseconds; a minute is a hang, and so is using no CPU for the stall timeout.
  const stall = limits.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: limits.stallTimeoutMs };
  const { log } = await run('packager', packagerArgs(tsPath, kind, initPath, template, encryption), { timeoutMs: 60_000, ...stall });
  const produced = (await readdir(workDir)).filter((name) => name.startsWith(`${kind}-`) && name.endsWith('.m4s'));
  if (produced.length !== 1) throw new Error(`packager produced ${produced.length} media segments for one span`);
  const [init, segment] = await Promise.all([readFile(initPath), readFile(path.join(workDir, produced[0]!))]);
  return { init, segment, log };
}
