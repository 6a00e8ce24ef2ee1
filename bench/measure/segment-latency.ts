/**
 * Segment latency of one source on one origin: cold segments
 * (cold-segment.ts), then warm on one of them (warm-throughput.ts), and
 * their table in the report.
 */
import path from 'node:path';
import { makePlan, segmentFileName } from '../../src/plan/plan.js';
import { probeSource } from '../../src/probe/index.js';
import { benchStreamingConfig, mib, ratio, removeTempDir, startOrigin, tempDir, type Info } from '../harness.js';
import { connect, formatMs, getJson, median } from '../lib.js';
import { BENCH_DIR } from '../sources.js';
import { COLD_SEGMENTS, measureColdSegments, renditionByName, type ColdResult } from './cold-segment.js';
import { measureWarm, WARM_COUNTS, type WarmCounts, type WarmResult } from './warm-throughput.js';

export interface SegmentResults {
  hash: string;
  segmentCount: number;
  segmentNumbers: number[];
  cold: Record<string, ColdResult>;
  warm: WarmResult;
}

export async function measureSegments(sourceName: string, counts: { coldSegments: number; warm: WarmCounts } = { coldSegments: COLD_SEGMENTS, warm: WARM_COUNTS }): Promise<SegmentResults> {
  const sourcePath = path.join(BENCH_DIR, sourceName);
  const cacheDir = await tempDir('jitseg-bench-cache-');
  const workDir = await tempDir('jitseg-bench-bare-');
  const origin = await startOrigin(cacheDir);
  const client = connect(origin.url);
  try {
    const { hash } = await getJson<{ hash: string }>(client, '/api/v1/content', { method: 'POST', json: { path: sourceName }, expectStatus: 201 });
    const info = await getJson<Info>(client, `/api/v1/content/${hash}/info`);

    // The baseline needs the origin's plan: same probe, same config.
    const plan = makePlan(await probeSource(sourcePath), benchStreamingConfig());
    const sameIds = plan.renditions.map((r) => r.id).join() === info.renditions.map((r) => r.id).join();
    if (!sameIds || plan.videoSegments.length !== info.segments) {
      throw new Error('the local plan does not match the server (rendition ids or segment count differ): the baseline would encode something else');
    }
    const target = { client, originPid: origin.pid, sourceName, sourcePath, hash, info, plan, workDir };
    const { numbers, cold } = await measureColdSegments(target, counts.coldSegments);

    // Warm: a segment encoded above, now in the origin's memory cache and on disk; 720p where measured (the target's).
    const warmRendition = renditionByName(target, '720p' in cold ? '720p' : Object.keys(cold)[0]!);
    const warmNumber = numbers[0]!;
    const fileName = segmentFileName(plan.segmentTemplate, warmNumber);
    const warm = await measureWarm(
      origin,
      cacheDir,
      {
        urlPath: `/api/v1/content/${hash}/video/${warmRendition.id}/${fileName}`,
        relativeFile: [hash, 'video', warmRendition.id, fileName].join('/'),
        renditionId: warmRendition.id,
        renditionName: warmRendition.name,
        number: warmNumber,
      },
      counts.warm,
    );
    return { hash, segmentCount: info.segments, segmentNumbers: numbers, cold, warm };
  } finally {
    await client.close();
    await origin.stop();
    await removeTempDir(cacheDir);
    await removeTempDir(workDir);
  }
}

export function reportSegments(label: string, segments: SegmentResults): string[] {
  const ms = formatMs;
  const lines = [
    '',
    `### Segment latency (${label}, ${segments.segmentCount} segments; cold: segments ${segments.segmentNumbers.join(', ')})`,
    '',
    '| Measurement | jitseg | Baseline | jitseg / baseline |',
    '|---|---:|---:|---:|',
  ];
  for (const [name, c] of Object.entries(segments.cold)) {
    lines.push(
      `| Cold ${name} segment, p50 (n=${c.samples.length}) | ${ms(c.jitsegP50Ms)} | ${ms(c.bareP50Ms)} bare ffmpeg | ${ratio(c.medianRatio)} (median of per-segment ratios) |`,
      `| Cold ${name} segment, p95 | ${ms(c.jitsegP95Ms)} | ${ms(c.bareP95Ms)} bare ffmpeg | ${ratio(c.jitsegP95Ms / c.bareP95Ms)} |`,
      `| Cold ${name} segment, CPU (origin + its children vs ffmpeg), median | ${median(c.samples.map((x) => x.jitsegCpuSeconds)).toFixed(2)} s | ${median(c.samples.map((x) => x.bareCpuSeconds)).toFixed(2)} s bare ffmpeg | ${ratio(c.medianCpuRatio)} (median of per-segment ratios) |`,
    );
  }
  const { jitseg, static: baseline, bytes, staticKind, counts } = segments.warm;
  const { sequential, clients, loadMs } = counts;
  const size = `${(bytes / 1e6).toFixed(2)} MB`;
  lines.push(
    `| Warm ${segments.warm.renditionName} segment (${size}), ${sequential} sequential, p50 | ${ms(jitseg.sequential.p50Ms)} | ${ms(baseline.sequential.p50Ms)} ${staticKind} | ${ratio(jitseg.sequential.p50Ms / baseline.sequential.p50Ms)} |`,
    `| Warm, ${sequential} sequential, p99 | ${ms(jitseg.sequential.p99Ms)} | ${ms(baseline.sequential.p99Ms)} ${staticKind} | ${ratio(jitseg.sequential.p99Ms / baseline.sequential.p99Ms)} |`,
    `| Warm, ${clients} clients × ${loadMs / 1000} s, throughput (median of ${jitseg.rounds.length} alternating runs) | ${Math.round(jitseg.concurrent.requestsPerSecond)} req/s | ${Math.round(baseline.concurrent.requestsPerSecond)} req/s ${staticKind} | ${ratio(jitseg.concurrent.requestsPerSecond / baseline.concurrent.requestsPerSecond)} |`,
    `| Warm, ${clients} clients, server CPU per request (that run; ≤: includes the warm-up) | ${jitseg.concurrent.serverCpuMsPerRequest.toFixed(3)} ms | ${baseline.concurrent.serverCpuMsPerRequest.toFixed(3)} ms ${staticKind} | ${ratio(jitseg.concurrent.serverCpuMsPerRequest / baseline.concurrent.serverCpuMsPerRequest)} |`,
    `| Warm, ${clients} clients, p50 | ${ms(jitseg.concurrent.p50Ms)} | ${ms(baseline.concurrent.p50Ms)} ${staticKind} | ${ratio(jitseg.concurrent.p50Ms / baseline.concurrent.p50Ms)} |`,
    `| Warm, ${clients} clients, p99 | ${ms(jitseg.concurrent.p99Ms)} | ${ms(baseline.concurrent.p99Ms)} ${staticKind} | ${ratio(jitseg.concurrent.p99Ms / baseline.concurrent.p99Ms)} |`,
    `| Origin peak RSS (VmHWM) after the ${clients}-client run | ${mib(segments.warm.originMemory.peakRssBytes)} | — | — |`,
    '',
    `Static baseline: ${segments.warm.staticLabel}. Load-generator CPU during the ${clients}-client runs: ${Math.round(jitseg.concurrent.clientCpuPercent)} % (jitseg), ` +
      `${Math.round(baseline.concurrent.clientCpuPercent)} % (static) of one core; near 100 % the client, not the server, is the limit.`,
  );
  return lines;
}
