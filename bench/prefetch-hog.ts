/**
 * Prefetch next to a CPU hog: the player-like client of cache-coordination.ts
 * (720p + audio of the 30 s 1080p source, linear, fresh origin with the
 * defaults) at 1× and 2× play speed while `yes > /dev/null` keeps one core
 * busy. The hog is started by this bench and killed by its PID. Figure: the
 * share of segment requests already made when asked for, after the first 2
 * segments of each track (start-up: nothing can be ahead yet), pooled over
 * the runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { linearPlay } from './cache-coordination.js';
import { log } from './harness.js';
import { ensureMain1080p } from './sources.js';

export const PREFETCH_SPEEDS = [1, 2] as const;
export const PREFETCH_RUNS = 3;
export const PREFETCH_STARTUP_SEGMENTS = 2;

export interface PrefetchHogResults {
  source: string;
  rendition: string;
  hog: string;
  runs: { speed: number; plays: number; hits: number; counted: number; hitRatioAfterStartup: number; perPlay: number[] }[];
}

/** `yes` writing to /dev/null: one busy core. */
function startHog(): ChildProcess {
  const devNull = openSync('/dev/null', 'w');
  try {
    return spawn('yes', [], { stdio: ['ignore', devNull, 'ignore'] });
  } finally {
    closeSync(devNull);
  }
}

async function stopHog(hog: ChildProcess): Promise<void> {
  if (hog.exitCode !== null || hog.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => hog.once('exit', () => resolve()));
  process.kill(hog.pid!, 'SIGTERM');
  await exited;
}

export async function measurePrefetchHog(plays = PREFETCH_RUNS): Promise<PrefetchHogResults> {
  const file = path.basename(await ensureMain1080p());
  const hog = startHog();
  if (hog.pid === undefined) throw new Error('could not start the CPU hog (yes)');
  log(`  CPU hog: yes > /dev/null, pid ${hog.pid}`);
  try {
    const runs: PrefetchHogResults['runs'] = [];
    let rendition = '';
    for (const speed of PREFETCH_SPEEDS) {
      const perPlay: number[] = [];
      let hits = 0;
      let counted = 0;
      for (let k = 0; k < plays; k++) {
        const play = await linearPlay(file, { speed, startupSegments: PREFETCH_STARTUP_SEGMENTS });
        rendition = play.rendition;
        hits += play.hitsAfterStartup;
        counted += play.countedAfterStartup;
        perPlay.push(play.hitRatioAfterStartup);
        log(`  ${speed}×, play ${k + 1}: ${play.hitsAfterStartup} of ${play.countedAfterStartup} hits after the first ${PREFETCH_STARTUP_SEGMENTS} segments (${play.playedSeconds.toFixed(1)} s)`);
      }
      runs.push({ speed, plays, hits, counted, hitRatioAfterStartup: counted ? hits / counted : 1, perPlay });
    }
    return { source: file, rendition, hog: 'yes > /dev/null (one core)', runs };
  } finally {
    await stopHog(hog);
  }
}

export function reportPrefetchHog(r: PrefetchHogResults): string[] {
  return [
    '',
    `### Prefetch next to a one-core CPU hog (${r.source}, ${r.rendition} + audio, a player-like client; hog: ${r.hog})`,
    '',
    `| Play speed | Hits after the first ${PREFETCH_STARTUP_SEGMENTS} segments of each track (pooled) | Per play |`,
    '|---|---:|---|',
    ...r.runs.map((run) => `| ${run.speed}× | ${(100 * run.hitRatioAfterStartup).toFixed(1)} % (${run.hits} of ${run.counted}, ${run.plays} plays) | ${run.perPlay.map((v) => `${(100 * v).toFixed(0)} %`).join(', ')} |`),
  ];
}
