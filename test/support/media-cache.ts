import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/**
 * Generated test media, made once per machine and shared by every vitest
 * worker: a file is named by a hash of how it is made (the ffmpeg build and
 * every argument), so a changed recipe makes a new file instead of reusing a
 * stale one, and a lock file makes it once when several workers ask at the
 * same moment (the others wait for it; a lock whose process died is taken over).
 */

export const MEDIA_CACHE = path.join(os.tmpdir(), 'jitseg-test-media');

/** A lock file still empty after this long lost its writer between creating and writing it. */
const EMPTY_LOCK_MS = 10_000;

let ffmpegBuild: Promise<string> | undefined;

/** The first line of `ffmpeg -version`: another build may make other bytes from the same arguments. */
function ffmpegVersion(): Promise<string> {
  ffmpegBuild ??= exec('ffmpeg', ['-version']).then(({ stdout }) => stdout.split('\n')[0] ?? '');
  return ffmpegBuild;
}

/** How to make one cached file: ffmpeg argument lists run in order; `step(temp, previous)` returns each one's arguments. */
export interface Recipe {
  /** The cached file's name (its extension picks ffmpeg's output format). */
  file: string;
  /** Each step's ffmpeg arguments (after `-hide_banner -loglevel error -y`), given its output path and the previous step's. */
  steps: ((output: string, previous: string | undefined) => string[])[];
  /** Subfolder of the cache. */
  folder?: string;
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // ESRCH: no such process. EPERM: it exists, owned by someone else.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
};

/** Takes the lock (true), or finds it held by a live process (false); a dead holder's lock is removed and taken. */
async function tryLock(lock: string): Promise<boolean> {
  try {
    const handle = await open(lock, 'wx');
    await handle.writeFile(String(process.pid));
    await handle.close();
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let holder: number;
  let age: number;
  try {
    holder = Number(await readFile(lock, 'utf8'));
    age = Date.now() - (await stat(lock)).mtimeMs;
  } catch (err) {
    // ENOENT: its holder just finished and removed it.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  // An empty lock file is one being written right now, unless it has stayed empty (its writer died between the two).
  const dead = holder > 0 ? !isAlive(holder) : age > EMPTY_LOCK_MS;
  if (dead) await rm(lock, { force: true });
  return false;
}

async function make(recipe: Recipe, dir: string, final: string): Promise<void> {
  let previous: string | undefined;
  const temps: string[] = [];
  try {
    for (const [i, step] of recipe.steps.entries()) {
      const temp = path.join(dir, `tmp-${process.pid}-${i}-${path.basename(final)}`);
      temps.push(temp);
      await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...step(temp, previous)], { maxBuffer: 1 << 24 });
      previous = temp;
    }
    await rename(previous!, final);
  } finally {
    await Promise.all(temps.map((temp) => rm(temp, { force: true })));
  }
}

/** The path of the cached file, made now if no worker has made it yet. */
export async function cachedMedia(recipe: Recipe): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify([await ffmpegVersion(), recipe.steps.map((step) => step('OUT', 'IN'))]))
    .digest('hex')
    .slice(0, 16);
  const dir = recipe.folder ? path.join(MEDIA_CACHE, recipe.folder) : MEDIA_CACHE;
  const final = path.join(dir, `${key}-${recipe.file}`);
  if (existsSync(final)) return final;
  await mkdir(dir, { recursive: true });
  const lock = `${final}.lock`;
  for (;;) {
    if (existsSync(final)) return final;
    if (await tryLock(lock)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    // Another worker may have finished between our check and taking the lock.
    if (!existsSync(final)) await make(recipe, dir, final);
    return final;
  } finally {
    await rm(lock, { force: true });
  }
}
