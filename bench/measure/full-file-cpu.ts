/**
 * Full-file JIT cost: the CPU of everything the origin does to serve a whole
 * file segment by segment — every video segment of the chosen renditions and
 * every audio segment, with their inits, GET in order from a fresh origin —
 * next to ONE ffmpeg process that makes the same video and audio over the
 * whole file (one-pass.ts), and that process plus one packager run.
 *
 * Counted on the origin's side: /proc/<pid>/stat of the origin's process,
 * utime + stime (its own work: HTTP, planning, validation, cache writes) plus
 * cutime + cstime (every child it started and reaped: video ffmpeg, the
 * init's encode, audio decode, encode and remux, Shaka Packager). The deltas
 * are read around the requests (registration and the manifest are before
 * them, not counted) once the origin has no child left running.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makePlan, segmentFileName, type Plan, type VideoRendition } from '../../src/plan/plan.js';
import { probeSource } from '../../src/probe/index.js';
import { benchStreamingConfig, cleanup, exitOnInterrupt, log, ratio, removeTempDir, seconds, startOrigin, tempDir, type Info, type SourceFile } from '../harness.js';
import { connect, getJson, median } from '../lib.js';
import { BENCH_DIR, ensureMain1080p } from '../sources.js';
import { originCpu } from './origin-cpu.js';
import { checkKeyframesAtCuts, childCpu, onePassCommand, onePassPackagerArgs, type CpuRun } from './one-pass.js';

/** The single-rendition case, and how many (JIT, one-pass) pairs each case runs. */
export const FULL_FILE_RENDITION = '720p';
export const FULL_FILE_PAIRS = 3;

/** One rendition by name, or every rendition of the plan (the ladder); the audio rendition always. */
export type FullFileScope = { renditions: string } | 'ladder';

interface JitRun {
  video: CpuRun;
  audio: CpuRun;
  /** Of video + audio: the origin process's own utime + stime (the rest is its children's). */
  originSelfSeconds: number;
  requests: number;
}

interface OnePassRun {
  /** One ffmpeg, the video renditions only / the audio only / both in one process. */
  video: CpuRun;
  audio: CpuRun;
  both: CpuRun;
  /** One Shaka Packager run over the outputs of `both`. */
  packager: CpuRun;
}

interface FullFilePair {
  jit: JitRun;
  onePass: OnePassRun;
  videoRatio: number;
  audioRatio: number;
  /** Origin (video + audio) / one ffmpeg making both. */
  totalRatio: number;
  /** Origin / (one ffmpeg making both + one packager run). */
  packagedRatio: number;
}

export interface FullFileResult {
  source: string;
  scope: string;
  renditions: string[];
  videoSegments: number;
  audioSegments: number;
  /** The one-pass commands (the source path and outputs are the bench's). */
  onePassArgs: string[];
  packagerArgs: string[];
  pairs: FullFilePair[];
  median: { videoRatio: number; audioRatio: number; totalRatio: number; packagedRatio: number; jitCpuSeconds: number; onePassCpuSeconds: number };
}

async function jitRun(sourceName: string, plan: Plan, renditions: readonly VideoRendition[]): Promise<JitRun> {
  const audio = plan.audio[0]!;
  const cacheDir = await tempDir('jitseg-bench-cache-');
  const origin = await startOrigin(cacheDir);
  const client = connect(origin.url);
  try {
    const { hash } = await getJson<{ hash: string }>(client, '/api/v1/content', { method: 'POST', json: { path: sourceName }, expectStatus: 201 });
    const info = await getJson<Info>(client, `/api/v1/content/${hash}/info`);
    if (renditions.some((r) => !info.renditions.some((s) => s.id === r.id)) || info.segments !== plan.videoSegments.length || info.audio[0]?.id !== audio.id) {
      throw new Error('the local plan does not match the server (rendition or audio ids, or segment count differ): the one pass would make something else');
    }
    const base = `/api/v1/content/${hash}`;
    const track = (kind: 'video' | 'audio', id: string, count: number) => [
      `${base}/${kind}/${id}/init.mp4`,
      ...Array.from({ length: count }, (_, k) => `${base}/${kind}/${id}/${segmentFileName(plan.segmentTemplate, k + 1)}`),
    ];
    // Video first, then audio: each phase's CPU is read apart (a player interleaves them; the work is the same).
    const videoPaths = renditions.flatMap((r) => track('video', r.id, plan.videoSegments.length));
    const audioPaths = track('audio', audio.id, audio.segments.length);
    const video = await originCpu(origin.pid, client, videoPaths);
    const audioRun = await originCpu(origin.pid, client, audioPaths);
    return {
      video: { cpuSeconds: video.cpuSeconds, wallMs: video.wallMs },
      audio: { cpuSeconds: audioRun.cpuSeconds, wallMs: audioRun.wallMs },
      originSelfSeconds: video.selfSeconds + audioRun.selfSeconds,
      requests: videoPaths.length + audioPaths.length,
    };
  } finally {
    await client.close();
    await origin.stop();
    await removeTempDir(cacheDir);
  }
}

/** The three one-pass runs and the packager, in a fresh work dir; the key frames are checked after the timed runs. */
async function onePassRun(sourcePath: string, plan: Plan, renditions: readonly VideoRendition[], check: boolean): Promise<OnePassRun> {
  const workDir = await tempDir('jitseg-bench-onepass-');
  try {
    const audio = plan.audio[0]!;
    const video = await childCpu('ffmpeg', onePassCommand(sourcePath, plan, renditions, undefined, workDir).args);
    const audioRun = await childCpu('ffmpeg', onePassCommand(sourcePath, plan, [], audio, workDir).args);
    const both = onePassCommand(sourcePath, plan, renditions, audio, workDir);
    const bothRun = await childCpu('ffmpeg', both.args);
    const packager = await childCpu('packager', onePassPackagerArgs(both, workDir, segmentSeconds(plan)));
    if (check) for (const o of both.outputs.filter((o) => o.kind === 'video')) await checkKeyframesAtCuts(o.file, plan);
    return { video, audio: audioRun, both: bothRun, packager };
  } finally {
    await removeTempDir(workDir);
  }
}

/** The packager's target segment length: the plan's mean (it cuts on the forced key frames). */
const segmentSeconds = (plan: Plan) => Math.max(1, Math.round(plan.durationSeconds / plan.videoSegments.length));

/**
 * Pairs of (JIT, one pass), alternating which runs first so neither always
 * inherits the other's warm page cache.
 */
export async function measureFullFile(source: SourceFile, scope: FullFileScope, pairCount = FULL_FILE_PAIRS): Promise<FullFileResult> {
  const sourcePath = path.join(BENCH_DIR, source.name);
  const plan = makePlan(await probeSource(sourcePath), benchStreamingConfig());
  const renditions = scope === 'ladder' ? plan.renditions : plan.renditions.filter((r) => r.name === scope.renditions);
  if (renditions.length === 0) throw new Error(`${source.name} has no ${scope === 'ladder' ? '' : scope.renditions} rendition`);
  if (plan.audio.length === 0) throw new Error(`${source.name} has no audio`);
  const label = scope === 'ladder' ? `whole ladder (${renditions.map((r) => r.name).join(', ')}) + audio` : `${scope.renditions} + audio`;

  const pairs: FullFilePair[] = [];
  for (let k = 0; k < pairCount; k++) {
    let jit: JitRun;
    let one: OnePassRun;
    if (k % 2 === 0) {
      jit = await jitRun(source.name, plan, renditions);
      one = await onePassRun(sourcePath, plan, renditions, k === 0);
    } else {
      one = await onePassRun(sourcePath, plan, renditions, false);
      jit = await jitRun(source.name, plan, renditions);
    }
    const jitTotal = jit.video.cpuSeconds + jit.audio.cpuSeconds;
    const pair: FullFilePair = {
      jit,
      onePass: one,
      videoRatio: jit.video.cpuSeconds / one.video.cpuSeconds,
      audioRatio: jit.audio.cpuSeconds / one.audio.cpuSeconds,
      totalRatio: jitTotal / one.both.cpuSeconds,
      packagedRatio: jitTotal / (one.both.cpuSeconds + one.packager.cpuSeconds),
    };
    pairs.push(pair);
    log(
      `  ${label}: jitseg video ${seconds(jit.video.cpuSeconds)} + audio ${seconds(jit.audio.cpuSeconds)} CPU (origin's own ${seconds(jit.originSelfSeconds)}); ` +
        `one pass video ${seconds(one.video.cpuSeconds)}, audio ${seconds(one.audio.cpuSeconds)}, both ${seconds(one.both.cpuSeconds)} + packager ${seconds(one.packager.cpuSeconds)}; ` +
        `×${pair.videoRatio.toFixed(2)} video, ×${pair.audioRatio.toFixed(2)} audio, ×${pair.totalRatio.toFixed(2)} total`,
    );
  }
  const workDir = '<dir>';
  const both = onePassCommand(sourcePath, plan, renditions, plan.audio[0], workDir);
  const shown = (args: string[]) => args.map((a) => a.replace(sourcePath, '<source>'));
  return {
    source: source.label,
    scope: label,
    renditions: renditions.map((r) => r.name),
    videoSegments: plan.videoSegments.length,
    audioSegments: plan.audio[0]!.segments.length,
    onePassArgs: shown(both.args),
    packagerArgs: onePassPackagerArgs(both, workDir, segmentSeconds(plan)),
    pairs,
    median: {
      videoRatio: median(pairs.map((p) => p.videoRatio)),
      audioRatio: median(pairs.map((p) => p.audioRatio)),
      totalRatio: median(pairs.map((p) => p.totalRatio)),
      packagedRatio: median(pairs.map((p) => p.packagedRatio)),
      jitCpuSeconds: median(pairs.map((p) => p.jit.video.cpuSeconds + p.jit.audio.cpuSeconds)),
      onePassCpuSeconds: median(pairs.map((p) => p.onePass.both.cpuSeconds)),
    },
  };
}

export function reportFullFile(results: FullFileResult[]): string[] {
  const lines: string[] = [];
  const s = (values: number[]) => seconds(median(values));
  for (const r of results) {
    const p = r.pairs;
    const n = p.length;
    lines.push(
      '',
      `### Full-file JIT CPU: ${r.source}, ${r.scope} (${r.videoSegments} video and ${r.audioSegments} audio segments per track, inits included; medians of ${n} pairs)`,
      '',
      '| Measurement | jitseg: origin + every child | One ffmpeg pass | jitseg / one pass (median of per-pair ratios) |',
      '|---|---:|---:|---:|',
      `| Video, CPU | ${s(p.map((x) => x.jit.video.cpuSeconds))} | ${s(p.map((x) => x.onePass.video.cpuSeconds))} (video only) | ${ratio(r.median.videoRatio)} |`,
      `| Audio, CPU | ${s(p.map((x) => x.jit.audio.cpuSeconds))} | ${s(p.map((x) => x.onePass.audio.cpuSeconds))} (audio only) | ${ratio(r.median.audioRatio)} |`,
      `| Video + audio, CPU | ${seconds(r.median.jitCpuSeconds)} (origin's own ${s(p.map((x) => x.jit.originSelfSeconds))}) | ${seconds(r.median.onePassCpuSeconds)} (both in one process) | ${ratio(r.median.totalRatio)} |`,
      `| … one pass + one packager run | | ${s(p.map((x) => x.onePass.both.cpuSeconds + x.onePass.packager.cpuSeconds))} (packager ${s(p.map((x) => x.onePass.packager.cpuSeconds))}) | ${ratio(r.median.packagedRatio)} |`,
      `| Wall, video + audio | ${s(p.map((x) => (x.jit.video.wallMs + x.jit.audio.wallMs) / 1000))} (${p[0]!.jit.requests} sequential GETs) | ${s(p.map((x) => x.onePass.both.wallMs / 1000))} | — |`,
    );
  }
  lines.push('', 'What each side counts: bench/README.md, "Full-file JIT CPU".');
  return lines;
}

/** Alone: npx tsx bench/measure/full-file-cpu.ts [720p|ladder] [pairs] (the 30 s 1080p source). */
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [scopeArg = FULL_FILE_RENDITION, pairsArg = String(FULL_FILE_PAIRS)] = process.argv.slice(2);
  exitOnInterrupt();
  try {
    const source: SourceFile = { key: 'mp4_1080p_30s', label: '30 s 1080p MP4', name: path.basename(await ensureMain1080p()) };
    const result = await measureFullFile(source, scopeArg === 'ladder' ? 'ladder' : { renditions: scopeArg }, Number(pairsArg));
    console.log(reportFullFile([result]).join('\n'));
    console.log(`\n${JSON.stringify(result)}`);
  } finally {
    await cleanup();
  }
}
