/**
 * CPU of an origin process and every child it starts, from /proc: its own
 * utime + stime plus cutime + cstime, which count a child once it has exited
 * and been reaped. Read only when no child is left running, so a child still
 * at work is never missed.
 */
import { readdir, readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from 'undici';
import { procCpu, timedRequest, type TimedResponse } from '../lib.js';

/** Waits (at most 60 s: a loaded machine) until `pid` has no child process. */
export async function childrenDone(pid: number): Promise<void> {
  for (let k = 0; k < 1200; k++) {
    const tasks = await readdir(`/proc/${pid}/task`);
    const children = await Promise.all(tasks.map((t) => readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')));
    if (children.every((c) => c.trim() === '')) return;
    await sleep(50);
  }
  throw new Error(`process ${pid} still has child processes 60 s after its last response`);
}

export interface OriginCpu {
  /** Origin + children, seconds. */
  cpuSeconds: number;
  /** The origin process's own part. */
  selfSeconds: number;
  /** Send of the first request to the last body byte of the last. */
  wallMs: number;
  responses: TimedResponse[];
}

/** GETs each path in order on `client`; the origin's CPU (its own and its children's) over the lot. */
export async function originCpu(pid: number, client: Client, paths: readonly string[]): Promise<OriginCpu> {
  await childrenDone(pid);
  const cpu0 = await procCpu(pid);
  const t0 = performance.now();
  const responses: TimedResponse[] = [];
  for (const p of paths) responses.push(await timedRequest(client, p));
  const wallMs = performance.now() - t0;
  await childrenDone(pid);
  const cpu1 = await procCpu(pid);
  return { cpuSeconds: cpu1.total - cpu0.total, selfSeconds: cpu1.self - cpu0.self, wallMs, responses };
}
