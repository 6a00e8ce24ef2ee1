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

/** Four of the packager's 64 KiB I/O blocks. */
const PACKAGER_IO_CACHE_BYTES = 256 * 1024;

/** One span's stream descriptor: its TS in, its init and its one media segment out. */
export interface PackagerStream {
  inputPath: string;
  initPath: string;
  segmentTemplatePath: string;
}

export function packagerArgs(inputPath: string, kind: 'video' | 'audio', initPath: string, segmentTemplatePath: string, encryption?: SpanEncryption): string[] {
  return multiPackagerArgs([{ inputPath, initPath, segmentTemplatePath }], kind, encryption);
}

/** Any number of spans of one kind in one packager run: each descriptor is packaged on its own, as if alone. */
export function multiPackagerArgs(streams: readonly PackagerStream[], kind: 'video' | 'audio', encryption?: SpanEncryption): string[] {
  return [
    ...streams.map(
      ({ inputPath, initPath, segmentTemplatePath }) =>
        `in=${inputPath},stream=${kind},init_segment=${initPath},segment_template=${segmentTemplatePath}${encryption ? `,drm_label=${kind.toUpperCase()}` : ''}`,
    ),
    // Longer than any span, so the whole span becomes one segment.
    '--segment_duration', '100000',
    // The default threaded-I/O cache (32 MiB per file) costs more to map and fault in than packaging a span does
    // (~0.04 CPU-s and 0.2-0.3 s of wall time per stream, measured); 256 KiB changes no output byte.
    '--io_cache_size', String(PACKAGER_IO_CACHE_BYTES),
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
  return { ...(await packagedFiles(workDir, kind, initPath)), log };
}

/** The init and the one media segment the packager wrote for a span in `dir`. */
async function packagedFiles(dir: string, kind: 'video' | 'audio', initPath: string): Promise<{ init: Uint8Array; segment: Uint8Array }> {
  const produced = (await readdir(dir)).filter((name) => name.startsWith(`${kind}-`) && name.endsWith('.m4s'));
  if (produced.length !== 1) throw new Error(`packager produced ${produced.length} media segments for one span`);
  const [init, segment] = await Promise.all([readFile(initPath), readFile(path.join(dir, produced[0]!))]);
  return { init, segment };
}

/**
 * Several spans of one kind (e.g. an audio run's), each TS in its own
 * directory, packaged by one packager run into that directory: the same media
 * segment bytes as packageSpan makes for each alone (test/audio-exact; the
 * inits differ only in their creation times, which the origin canonicalizes).
 * Clear content only: the packager takes one IV per run, and each protected
 * segment has its own (drm/keys.ts), so protected spans are packaged one by one.
 */
export async function packageSpans(
  spans: ReadonlyArray<{ tsPath: string; dir: string }>,
  kind: 'video' | 'audio',
  limits: Pick<RunOptions, 'stallTimeoutMs'> = {},
): Promise<PackagedSpan[]> {
  if (spans.length === 0) return [];
  const streams = spans.map(({ tsPath, dir }) => ({ inputPath: tsPath, initPath: path.join(dir, `${kind}-init.mp4`), segmentTemplatePath: path.join(dir, `${kind}-$Number$.m4s`) }));
  const stall = limits.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: limits.stallTimeoutMs };
  const { log } = await run('packager', multiPackagerArgs(streams, kind), { timeoutMs: 60_000 + 5_000 * spans.length, ...stall });
  return Promise.all(spans.map(async ({ dir }, i) => ({ ...(await packagedFiles(dir, kind, streams[i]!.initPath)), log: i === 0 ? log : '' })));
}
