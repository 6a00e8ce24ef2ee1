/**
 * Full-file JIT cost: the CPU time of encoding one whole rendition segment
 * by segment (every segment requested in order from a fresh origin) next to
 * one ffmpeg pass over the whole file with the same settings.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { rm } from 'node:fs/promises';
import { execa } from 'execa';
import { makePlan, segmentFileName, type Plan } from '../../src/plan/plan.js';
import { probeSource } from '../../src/probe/index.js';
import { videoEncodeArgs } from '../../src/transcode/ffmpeg-args.js';
import { benchStreamingConfig, log, ratio, removeTempDir, seconds, startOrigin, tempDir, type Info, type SourceFile } from '../harness.js';
import { connect, getJson, median, procCpu, timedRequest } from '../lib.js';
import { BENCH_DIR } from '../sources.js';

/** This rendition of the 30 s 1080p source, this many (JIT, one-pass) pairs. */
export const FULL_FILE_RENDITION = '720p';
export const FULL_FILE_PAIRS = 3;

interface CpuRun {
  cpuSeconds: number;
  wallMs: number;
}

export interface FullFileResult {
  source: string;
  rendition: string;
  renditionId: string;
  segments: number;
  /** The one-pass command (its arguments; the source path and output are the bench's). */
  onePassArgs: string[];
  pairs: { jit: CpuRun; onePass: CpuRun; ratio: number }[];
  medianJitCpuSeconds: number;
  medianOnePassCpuSeconds: number;
  medianRatio: number;
}

/**
 * The origin's command line for the rendition without the trim and the seek:
 * one ffmpeg pass over the whole file with the same filters and x264 options.
 */
function onePassArgs(sourcePath: string, plan: Plan, renditionName: string, outputPath: string): string[] {
  const rendition = plan.renditions.find((r) => r.name === renditionName)!;
  // Segment 1's command has no seek; drop its trim from the filter chain.
  const args = videoEncodeArgs(sourcePath, plan, rendition, plan.videoSegments[0]!, outputPath);
  const vf = args.indexOf('-vf');
  args[vf + 1] = args[vf + 1]!.split(',').filter((f) => !f.startsWith('trim=')).join(',');
  if (args.includes('-ss') || args[vf + 1]!.includes('trim')) throw new Error(`the one-pass command still seeks or trims: ${args.join(' ')}`);
  return args;
}

/**
 * CPU time (user + sys, children included) the origin spends on GETting every
 * segment of one rendition in order, on a fresh server and cache (measured
 * from /proc/<pid>/stat around the requests, after registration), next to
 * the CPU time of one ffmpeg pass over the whole file (this process's cutime
 * + cstime around it). Pairs alternate which runs first.
 */
export async function measureFullFile(source: SourceFile, renditionName = FULL_FILE_RENDITION, pairCount = FULL_FILE_PAIRS): Promise<FullFileResult> {
  const sourcePath = path.join(BENCH_DIR, source.name);
  const plan = makePlan(await probeSource(sourcePath), benchStreamingConfig());
  const rendition = plan.renditions.find((r) => r.name === renditionName);
  if (!rendition) throw new Error(`${source.name} has no ${renditionName} rendition`);
  const segments = plan.videoSegments.length;

  const jit = async (): Promise<CpuRun> => {
    const cacheDir = await tempDir('jitseg-bench-cache-');
    const origin = await startOrigin(cacheDir);
    const client = connect(origin.url);
    try {
      const { hash } = await getJson<{ hash: string }>(client, '/api/v1/content', { method: 'POST', json: { path: source.name }, expectStatus: 201 });
      const info = await getJson<Info>(client, `/api/v1/content/${hash}/info`);
      if (!info.renditions.some((r) => r.id === rendition.id) || info.segments !== segments) {
        throw new Error('the local plan does not match the server (rendition id or segment count differ)');
      }
      const cpu0 = await procCpu(origin.pid);
      const t0 = performance.now();
      for (let number = 1; number <= segments; number++) {
        await timedRequest(client, `/api/v1/content/${hash}/video/${rendition.id}/${segmentFileName(plan.segmentTemplate, number)}`);
      }
      const wallMs = performance.now() - t0;
      const cpu1 = await procCpu(origin.pid);
      return { cpuSeconds: cpu1.total - cpu0.total, wallMs };
    } finally {
      await client.close();
      await origin.stop();
      await removeTempDir(cacheDir);
    }
  };

  const workDir = await tempDir('jitseg-bench-onepass-');
  const args = onePassArgs(sourcePath, plan, renditionName, path.join(workDir, 'whole.ts'));
  const onePass = async (): Promise<CpuRun> => {
    // This process's only child while it runs, so the cutime/cstime delta is ffmpeg's CPU.
    const cpu0 = await procCpu('self');
    const t0 = performance.now();
    await execa('ffmpeg', args, { stdin: 'ignore' });
    const wallMs = performance.now() - t0;
    const cpu1 = await procCpu('self');
    await rm(path.join(workDir, 'whole.ts'), { force: true });
    return { cpuSeconds: cpu1.children - cpu0.children, wallMs };
  };

  const pairs: FullFileResult['pairs'] = [];
  try {
    for (let k = 0; k < pairCount; k++) {
      let a: CpuRun;
      let b: CpuRun;
      if (k % 2 === 0) {
        a = await jit();
        b = await onePass();
      } else {
        b = await onePass();
        a = await jit();
      }
      pairs.push({ jit: a, onePass: b, ratio: a.cpuSeconds / b.cpuSeconds });
      log(
        `  ${renditionName}, ${segments} segments: jitseg ${seconds(a.cpuSeconds)} CPU (${seconds(a.wallMs / 1000)} wall), ` +
          `one pass ${seconds(b.cpuSeconds)} CPU (${seconds(b.wallMs / 1000)} wall), ×${(a.cpuSeconds / b.cpuSeconds).toFixed(2)}`,
      );
    }
  } finally {
    await removeTempDir(workDir);
  }
  return {
    source: source.label,
    rendition: renditionName,
    renditionId: rendition.id,
    segments,
    onePassArgs: args.map((a) => (a === sourcePath ? '<source>' : a.startsWith(workDir) ? '<output>' : a)),
    pairs,
    medianJitCpuSeconds: median(pairs.map((p) => p.jit.cpuSeconds)),
    medianOnePassCpuSeconds: median(pairs.map((p) => p.onePass.cpuSeconds)),
    medianRatio: median(pairs.map((p) => p.ratio)),
  };
}

export function reportFullFile(fullFile: FullFileResult): string[] {
  return [
    `### Full-file JIT cost (${fullFile.source}, ${fullFile.rendition}: all ${fullFile.segments} segments requested in order, median of ${fullFile.pairs.length} pairs)`,
    '',
    '| Measurement | jitseg | One ffmpeg pass | jitseg / one pass |',
    '|---|---:|---:|---:|',
    `| CPU time (user + sys, children included) | ${seconds(fullFile.medianJitCpuSeconds)} | ${seconds(fullFile.medianOnePassCpuSeconds)} | ${ratio(fullFile.medianRatio)} (median of per-pair ratios) |`,
    `| Wall time | ${seconds(median(fullFile.pairs.map((p) => p.jit.wallMs)) / 1000)} | ${seconds(median(fullFile.pairs.map((p) => p.onePass.wallMs)) / 1000)} | ${ratio(median(fullFile.pairs.map((p) => p.jit.wallMs / p.onePass.wallMs)))} |`,
    '',
    'One pass: the origin\'s ffmpeg command for the rendition without the trim and the seek (same filters and x264 options).',
  ];
}
