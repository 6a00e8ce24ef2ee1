/**
 * Bench sources, generated once and cached in /tmp/jitseg-bench/ (or
 * $JITSEG_BENCH_DIR), the one generator for every bench script:
 *
 *   long-2h.mp4             2 hours, 320x180 @ 24000/1001 fps, libx264 ultrafast, GOP 96,
 *                           AAC 48 kHz. A 1-minute clip concatenated 120 times with the concat
 *                           demuxer and `-c copy`: seconds to make, not the minutes a real
 *                           2-hour encode would take.
 *   long-2h.mkv             the same streams remuxed to Matroska (`-c copy`).
 *   long-30min.mp4          the same clip 30 times: other long content, to JIT-warm a server
 *                           before a cold manifest of long-2h.mp4 ("a running server").
 *   main-1080p-23976.mp4    the tests' 30 s 1080p 23.976 fps source (SOURCES.main1080p).
 *
 * Every file is written under a temporary name and renamed when complete, so an
 * interrupted run never leaves a truncated file that a later run would trust.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { SOURCES } from '../test/support/media.js';

/** Overridable to try a first-time generation without throwing the shared cache away. */
export const BENCH_DIR = process.env.JITSEG_BENCH_DIR ?? '/tmp/jitseg-bench';
export const CLIP = path.join(BENCH_DIR, 'clip-1min.mp4');
export const LONG_MP4 = path.join(BENCH_DIR, 'long-2h.mp4');
export const LONG_MKV = path.join(BENCH_DIR, 'long-2h.mkv');
export const LONG_30MIN_MP4 = path.join(BENCH_DIR, 'long-30min.mp4');
export const MAIN_1080P = path.join(BENCH_DIR, SOURCES.main1080p.file);
const REPEATS = 120;

async function exists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).size > 0;
  } catch {
    return false;
  }
}

/** Runs ffmpeg writing to a temporary name next to `target`, then renames it into place. */
async function ffmpegAtomic(target: string, args: readonly string[]): Promise<void> {
  const temp = `${target}.${process.pid}.tmp${path.extname(target)}`;
  try {
    await execa('ffmpeg', ['-hide_banner', '-v', 'error', '-y', ...args, temp]);
    await rename(temp, target);
  } finally {
    await rm(temp, { force: true });
  }
}

async function ensure(target: string, what: string, make: () => Promise<void>): Promise<string> {
  await mkdir(BENCH_DIR, { recursive: true });
  if (await exists(target)) return target;
  const t0 = Date.now();
  process.stderr.write(`[sources] generating ${what}…`);
  await make();
  process.stderr.write(` ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return target;
}

async function ensureClip(): Promise<string> {
  return ensure(CLIP, '1-minute clip', () =>
    ffmpegAtomic(CLIP, [
      '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=24000/1001',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-t', '60',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '96', '-bf', '2',
      '-c:a', 'aac', '-b:a', '64k',
    ]),
  );
}

/** The clip `repeats` times, concatenated with `-c copy`. */
async function ensureConcat(target: string, repeats: number, what: string): Promise<string> {
  await ensureClip();
  return ensure(target, `${what} (clip ×${repeats})`, async () => {
    const list = path.join(BENCH_DIR, `concat-${repeats}.${process.pid}.txt`);
    try {
      await writeFile(list, `file '${CLIP}'\n`.repeat(repeats));
      await ffmpegAtomic(target, ['-f', 'concat', '-safe', '0', '-i', list, '-c', 'copy']);
    } finally {
      await rm(list, { force: true });
    }
  });
}

export async function ensureLongMp4(): Promise<string> {
  return ensureConcat(LONG_MP4, REPEATS, '2-hour MP4');
}

export async function ensureLong30MinMp4(): Promise<string> {
  return ensureConcat(LONG_30MIN_MP4, 30, '30-minute MP4');
}

export async function ensureLongMkv(): Promise<string> {
  const mp4 = await ensureLongMp4();
  return ensure(LONG_MKV, '2-hour MKV (remux)', () => ffmpegAtomic(LONG_MKV, ['-i', mp4, '-c', 'copy']));
}

export async function ensureMain1080p(): Promise<string> {
  return ensure(MAIN_1080P, '30 s 1080p source', () => ffmpegAtomic(MAIN_1080P, SOURCES.main1080p.args));
}
