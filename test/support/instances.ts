import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One origin process: the real CLI (src/main.ts), on a loopback port. */
export interface Instance {
  url: string;
  child: ChildProcess;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `launcher`: a command that runs node for it (e.g. setpriv, to start it with fewer privileges). */
export async function startInstance(args: string[], env: Record<string, string> = {}, launcher: string[] = []): Promise<Instance> {
  const [command, ...before] = [...launcher, process.execPath];
  const child = spawn(command!, [...before, '--import', 'tsx', 'src/main.ts', '--port', '0', '--host', '127.0.0.1', ...args], {
    cwd: ROOT,
    env: { ...process.env, JITSEG_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that killing it also kills the ffmpeg and packager it started: an orphaned encode
    // would otherwise go on writing into a cache directory the test is removing.
    detached: true,
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`an origin did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving .* on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`an origin exited (${code}): ${out}`)));
  });
  return { url, child };
}

/** kill -9 of the origin and every process it started (a crashed host); resolves once the origin has exited. */
export async function killInstance(instance: Instance): Promise<void> {
  const { child } = instance;
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit');
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch (error) {
    // ESRCH: the group is already gone.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
  await exited;
}
