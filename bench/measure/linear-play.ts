/**
 * Linear-play throughput: how many segments per second the origin makes for
 * one rendition that a client GETs in order, as fast as each answer comes (a
 * CDN pull, a player filling its buffer), with `encoder.run_segments` = 1
 * (every segment its own span) and = 8 (encode heads: one encoder process
 * over a run of segments). Each trial is a fresh origin and cache with the
 * origin's defaults (prefetch on) but degrade off, so every segment is made
 * at the configured speed; the CPU is the origin's own and every child's
 * (origin-cpu.ts), per segment.
 *
 * `run_segments` is asked of the config schema itself: where it does not
 * accept the key, the heads figure is reported as not available, never
 * measured with a setting the origin would ignore.
 */
import { parseStreamingYaml, ConfigError, defaultStreamingConfig, type StreamingConfig } from '../../src/config/config.js';
import { segmentFileName } from '../../src/plan/plan.js';
import { log, removeTempDir, startOrigin, tempDir, type Info, type SourceFile } from '../harness.js';
import { connect, getJson, median, timedRequest } from '../lib.js';
import { originCpu } from './origin-cpu.js';

export const LINEAR_RENDITION = '720p';
export const LINEAR_TRIALS = 3;
export const RUN_SETTINGS = [1, 8] as const;

export type LinearPlayRun =
  | { runSegments: number; available: false; why: string }
  | {
      runSegments: number;
      available: true;
      trials: { segmentsPerSecond: number; cpuSecondsPerSegment: number; wallMs: number }[];
      medianSegmentsPerSecond: number;
      medianCpuSecondsPerSegment: number;
    };

export interface LinearPlayResults {
  source: string;
  rendition: string;
  segments: number;
  runs: LinearPlayRun[];
}

/** The streaming config with `encoder.run_segments` = n, as the schema parses it; a string saying why when it does not accept it. */
export function runSegmentsConfig(n: number): StreamingConfig | string {
  let parsed: StreamingConfig;
  try {
    // Video runs are opt-in (encoder.video_runs: their bytes are not a span's); the heads trial measures them on.
    parsed = parseStreamingYaml(JSON.stringify({ streaming: { encoder: { run_segments: n, video_runs: n > 1, degrade: { enabled: false } } } }), 'bench');
  } catch (err) {
    // The schema is strict: an unknown key is a ConfigError.
    if (err instanceof ConfigError) return `heads not available (the config does not accept encoder.run_segments: ${err.message.split('\n')[0]})`;
    throw err;
  }
  if ((parsed.encoder as Record<string, unknown>).run_segments !== n) return 'heads not available (encoder.run_segments is not kept by the config)';
  return parsed;
}

async function trial(source: SourceFile, streaming: StreamingConfig, renditionName: string) {
  const cacheDir = await tempDir('jitseg-bench-linear-');
  const origin = await startOrigin(cacheDir, { streaming });
  const client = connect(origin.url);
  try {
    const { hash } = await getJson<{ hash: string }>(client, '/api/v1/content', { method: 'POST', json: { path: source.name }, expectStatus: 201 });
    const info = await getJson<Info>(client, `/api/v1/content/${hash}/info`);
    const rendition = info.renditions.find((r) => r.name === renditionName) ?? info.renditions[0]!;
    const base = `/api/v1/content/${hash}/video/${rendition.id}`;
    // The init first, as a player would; not counted in the throughput (it is no segment).
    await timedRequest(client, `${base}/init.mp4`);
    const paths = Array.from({ length: info.segments }, (_, k) => `${base}/${segmentFileName(streaming.packager.segment_template, k + 1)}`);
    const run = await originCpu(origin.pid, client, paths);
    return { segments: info.segments, rendition: rendition.name, wallMs: run.wallMs, cpuSeconds: run.cpuSeconds };
  } finally {
    await client.close();
    await origin.stop();
    await removeTempDir(cacheDir);
  }
}

export async function measureLinearPlay(source: SourceFile, trials = LINEAR_TRIALS): Promise<LinearPlayResults> {
  const runs: LinearPlayRun[] = [];
  let segments = 0;
  let rendition = LINEAR_RENDITION;
  for (const n of RUN_SETTINGS) {
    const config = runSegmentsConfig(n);
    if (typeof config === 'string') {
      // run_segments = 1 is today's behaviour (single spans): measured with the defaults when the key does not exist.
      if (n !== 1) {
        log(`  run_segments ${n}: ${config}`);
        runs.push({ runSegments: n, available: false, why: config });
        continue;
      }
    }
    const streaming: StreamingConfig = typeof config === 'string' ? withoutDegrade(defaultStreamingConfig()) : config;
    const results: { segmentsPerSecond: number; cpuSecondsPerSegment: number; wallMs: number }[] = [];
    for (let k = 0; k < trials; k++) {
      const t = await trial(source, streaming, LINEAR_RENDITION);
      segments = t.segments;
      rendition = t.rendition;
      results.push({ segmentsPerSecond: t.segments / (t.wallMs / 1000), cpuSecondsPerSegment: t.cpuSeconds / t.segments, wallMs: t.wallMs });
      log(`  run_segments ${n}, trial ${k + 1}: ${t.segments} segments in ${(t.wallMs / 1000).toFixed(1)} s, ${(t.cpuSeconds / t.segments).toFixed(2)} CPU-s per segment`);
    }
    runs.push({
      runSegments: n,
      available: true,
      trials: results,
      medianSegmentsPerSecond: median(results.map((r) => r.segmentsPerSecond)),
      medianCpuSecondsPerSegment: median(results.map((r) => r.cpuSecondsPerSegment)),
    });
  }
  return { source: source.label, rendition, segments, runs };
}

const withoutDegrade = (c: StreamingConfig): StreamingConfig => ({ ...c, encoder: { ...c.encoder, degrade: { ...c.encoder.degrade, enabled: false } } });

export function reportLinearPlay(r: LinearPlayResults): string[] {
  return [
    '',
    `### Linear-play throughput (${r.source}, ${r.rendition}: all ${r.segments} segments GET in order as fast as they come; prefetch on, degrade off)`,
    '',
    '| encoder.run_segments | Segments made per second | CPU per segment (origin + children) |',
    '|---|---:|---:|',
    ...r.runs.map((run) =>
      run.available
        ? `| ${run.runSegments}${run.runSegments === 1 ? ' (single spans)' : ' (heads)'} | ${run.medianSegmentsPerSecond.toFixed(2)} (median of ${run.trials.length}) | ${run.medianCpuSecondsPerSegment.toFixed(2)} s |`
        : `| ${run.runSegments} (heads) | ${run.why} | — |`,
    ),
  ];
}
