/**
 * Cold segment cost: segments never made before, requested from the origin,
 * next to the bare ffmpeg command the origin runs for the same span (180p,
 * 480p, 720p and 1080p, those the source has; sampled segment numbers from a
 * fixed seed). Wall time (send to last byte vs ffmpeg's start to exit) and
 * CPU (the origin's own and every child's, origin-cpu.ts, vs ffmpeg's).
 */
import path from 'node:path';
import { rm, stat } from 'node:fs/promises';
import type { Client } from 'undici';
import { segmentFileName, type Plan } from '../../src/plan/plan.js';
import { videoEncodeArgs } from '../../src/transcode/ffmpeg-args.js';
import { log, type Info } from '../harness.js';
import { formatMs, median, percentile, pickDistinct, round, seededRandom, timedRequest } from '../lib.js';
import { childCpu, type CpuRun } from './one-pass.js';
import { originCpu } from './origin-cpu.js';

/** Cold segments sampled per rendition (the 30 s source has ~8 segments). */
export const COLD_SEGMENTS = 6;
/** Fixed seed: every run samples the same segment numbers, so runs are comparable. */
export const SEED = 20240611;
export const COLD_RENDITIONS = ['180p', '480p', '720p', '1080p'] as const;

interface ColdSample {
  number: number;
  durationSeconds: number;
  bytes: number;
  jitsegMs: number;
  bareMs: number;
  ratio: number;
  /** CPU seconds: the origin and its children for the request; the bare ffmpeg. */
  jitsegCpuSeconds: number;
  bareCpuSeconds: number;
  cpuRatio: number;
}

export interface ColdResult {
  renditionId: string;
  width: number;
  height: number;
  samples: ColdSample[];
  jitsegP50Ms: number;
  jitsegP95Ms: number;
  bareP50Ms: number;
  bareP95Ms: number;
  medianRatio: number;
  medianCpuRatio: number;
}

/** A registered content on a running origin, with the plan the origin made for it. */
export interface ColdTarget {
  client: Client;
  /** The origin's process, whose CPU (and its children's) a cold request costs. */
  originPid: number;
  sourceName: string;
  sourcePath: string;
  hash: string;
  info: Info;
  plan: Plan;
  /** Where the bare ffmpeg writes. */
  workDir: string;
}

export const renditionByName = (target: ColdTarget, name: string) => {
  const rendition = target.info.renditions.find((r) => r.name === name);
  if (!rendition) throw new Error(`${target.sourceName} has no ${name} rendition (has ${target.info.renditions.map((r) => r.name).join(', ')})`);
  return rendition;
};

/** The exact ffmpeg command the origin would run for this span, timed (wall and CPU), writing into a temp .ts. */
export async function bareSpan(sourcePath: string, plan: Plan, renditionName: string, number: number, workDir: string): Promise<CpuRun> {
  const rendition = plan.renditions.find((r) => r.name === renditionName)!;
  const out = path.join(workDir, `bare-${renditionName}-${number}.ts`);
  const run = await childCpu('ffmpeg', videoEncodeArgs(sourcePath, plan, rendition, plan.videoSegments[number - 1]!, out));
  if ((await stat(out)).size === 0) throw new Error(`bare ffmpeg wrote nothing for ${renditionName} segment ${number}`);
  await rm(out, { force: true });
  return run;
}

/** bareSpan's wall time, ms. */
export const bareFfmpeg = async (sourcePath: string, plan: Plan, renditionName: string, number: number, workDir: string): Promise<number> =>
  (await bareSpan(sourcePath, plan, renditionName, number, workDir)).wallMs;

/**
 * Each sampled segment of each measured rendition, origin then bare ffmpeg
 * (alternating which goes first). Returns the sampled numbers, the measured
 * renditions (those of COLD_RENDITIONS the source has) and their results.
 */
export async function measureColdSegments(target: ColdTarget, sampleCount = COLD_SEGMENTS): Promise<{ numbers: number[]; cold: Record<string, ColdResult> }> {
  const { client, info, plan, sourcePath, workDir } = target;
  const base = `/api/v1/content/${target.hash}`;
  const numbers = pickDistinct(seededRandom(SEED), info.segments, sampleCount);
  if (numbers.length < sampleCount) log(`  note: only ${numbers.length} segments to sample`);
  log(`  segments sampled (seed ${SEED}): ${numbers.join(', ')} of ${info.segments}`);

  // First-request costs of the process (JIT, first packager run) are not what "cold segment" means:
  // warm them up on a segment that is not measured.
  const spare = info.renditions.find((r) => !(COLD_RENDITIONS as readonly string[]).includes(r.name) && r.name !== info.renditions[0]!.name);
  const warmup = spare ? `${base}/video/${spare.id}/segment_1.m4s` : `${base}/audio/${info.audio[0]!.id}/segment_1.m4s`;
  log(`  warm-up (not measured): ${formatMs((await timedRequest(client, warmup)).ms)}`);

  // Renditions the source has among the measured ones (a small source has only its own size).
  const coldNames: string[] = COLD_RENDITIONS.filter((name) => info.renditions.some((r) => r.name === name));
  if (coldNames.length === 0) coldNames.push(info.renditions[0]!.name);
  const cold: Record<string, ColdResult> = {};
  for (const name of coldNames) {
    const rendition = renditionByName(target, name);
    const samples: ColdSample[] = [];
    for (const [k, number] of numbers.entries()) {
      const segmentPath = `${base}/video/${rendition.id}/${segmentFileName(plan.segmentTemplate, number)}`;
      // Alternate which of the pair runs first, so neither always inherits the other's warm caches.
      let jitseg: Awaited<ReturnType<typeof originCpu>>;
      let bare: CpuRun;
      if (k % 2 === 0) {
        jitseg = await originCpu(target.originPid, client, [segmentPath]);
        bare = await bareSpan(sourcePath, plan, name, number, workDir);
      } else {
        bare = await bareSpan(sourcePath, plan, name, number, workDir);
        jitseg = await originCpu(target.originPid, client, [segmentPath]);
      }
      const sample: ColdSample = {
        number,
        durationSeconds: round(info.segmentDurations[number - 1]!, 4),
        bytes: jitseg.responses[0]!.bytes,
        jitsegMs: jitseg.wallMs,
        bareMs: bare.wallMs,
        ratio: jitseg.wallMs / bare.wallMs,
        jitsegCpuSeconds: jitseg.cpuSeconds,
        bareCpuSeconds: bare.cpuSeconds,
        cpuRatio: jitseg.cpuSeconds / bare.cpuSeconds,
      };
      samples.push(sample);
      log(
        `  ${name} segment ${number} (${sample.durationSeconds} s): jitseg ${formatMs(sample.jitsegMs)} / ${sample.jitsegCpuSeconds.toFixed(2)} CPU-s, ` +
          `bare ffmpeg ${formatMs(sample.bareMs)} / ${sample.bareCpuSeconds.toFixed(2)} CPU-s, ×${sample.ratio.toFixed(2)} wall, ×${sample.cpuRatio.toFixed(2)} CPU`,
      );
    }
    const jitsegMs = samples.map((s) => s.jitsegMs);
    const bare = samples.map((s) => s.bareMs);
    cold[name] = {
      renditionId: rendition.id,
      width: rendition.width,
      height: rendition.height,
      samples,
      jitsegP50Ms: percentile(jitsegMs, 50),
      jitsegP95Ms: percentile(jitsegMs, 95),
      bareP50Ms: percentile(bare, 50),
      bareP95Ms: percentile(bare, 95),
      medianRatio: median(samples.map((s) => s.ratio)),
      medianCpuRatio: median(samples.map((s) => s.cpuRatio)),
    };
  }
  return { numbers, cold };
}
