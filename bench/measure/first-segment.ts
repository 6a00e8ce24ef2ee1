/**
 * Time to first segment of content never seen before, per rendition, as a
 * player starting playback sees it: master → playlists → init + first
 * segment of the video rendition and of the audio, each trial on a fresh
 * server and cache.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { makePlan } from '../../src/plan/plan.js';
import { probeSource } from '../../src/probe/index.js';
import { benchStreamingConfig, log, removeTempDir, startOrigin, tempDir, vodPath, type SourceFile } from '../harness.js';
import { formatMs, median, timedRequest } from '../lib.js';
import { BENCH_DIR } from '../sources.js';

/** Fresh servers per rendition for the time to first segment. */
export const TTFS_TRIALS = 3;
/** Connections of the simulated player (browsers open up to 6 per host). */
export const PLAYER_CONNECTIONS = 6;

interface TtfsSample {
  /** The master playlist (hash + probe + plan on this first request). */
  manifestMs: number;
  /** From the master request until init.mp4 and segment_1.m4s of the video rendition are in. */
  videoMs: number;
  /** The same for the default audio rendition (0 without audio). */
  audioMs: number;
  /** Until both are in: when playback can start. */
  totalMs: number;
}

export interface TtfsResult {
  source: string;
  rendition: string;
  samples: TtfsSample[];
  medianTotalMs: number;
  medianManifestMs: number;
  medianVideoMs: number;
  medianAudioMs: number;
}

const resolveUri = (base: string, uri: string) => (uri.startsWith('/') ? uri : base.slice(0, base.lastIndexOf('/') + 1) + uri);

/**
 * One player start on a fresh server and cache: GET the master playlist,
 * then, in parallel as hls.js does, for the video rendition and for the
 * default audio: media playlist → init.mp4 → first segment, over a pool of
 * keep-alive connections.
 */
async function playerStart(url: string, sourceName: string, renditionName: string): Promise<TtfsSample> {
  const pool = new Pool(url, { connections: PLAYER_CONNECTIONS, keepAliveTimeout: 30_000 });
  try {
    const t0 = performance.now();
    const masterPath = vodPath(sourceName);
    const master = await timedRequest(pool, masterPath);
    const lines = master.body.toString('utf8').split('\n');
    const variant = lines.find((l) => !l.startsWith('#') && l.includes(`/video/${renditionName}-`));
    if (!variant) throw new Error(`${sourceName}: no ${renditionName} variant in the master playlist`);
    const audioUri = lines
      .filter((l) => l.startsWith('#EXT-X-MEDIA:TYPE=AUDIO'))
      .sort((a, b) => Number(b.includes('DEFAULT=YES')) - Number(a.includes('DEFAULT=YES')))
      .map((l) => /URI="([^"]+)"/.exec(l)?.[1])[0];
    const track = async (playlistUri: string) => {
      const playlistPath = resolveUri(masterPath, playlistUri);
      const playlist = (await timedRequest(pool, playlistPath)).body.toString('utf8');
      const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)?.[1];
      const first = playlist.split('\n').find((l) => l.length > 0 && !l.startsWith('#'));
      if (!init || !first) throw new Error(`${playlistPath}: no EXT-X-MAP or no segment`);
      await timedRequest(pool, resolveUri(playlistPath, init));
      await timedRequest(pool, resolveUri(playlistPath, first));
      return performance.now() - t0;
    };
    const [videoMs, audioMs] = await Promise.all([track(variant), audioUri ? track(audioUri) : Promise.resolve(0)]);
    return { manifestMs: master.ms, videoMs, audioMs, totalMs: Math.max(videoMs, audioMs) };
  } finally {
    await pool.close();
  }
}

/** Time to first segment per rendition, each trial on a fresh server and cache; renditions take turns. */
export async function measureTtfs(source: SourceFile, trials = TTFS_TRIALS): Promise<TtfsResult[]> {
  const plan = makePlan(await probeSource(path.join(BENCH_DIR, source.name)), benchStreamingConfig());
  const names = plan.renditions.map((r) => r.name);
  const samples = new Map<string, TtfsSample[]>(names.map((n) => [n, []]));
  for (let trial = 0; trial < trials; trial++) {
    for (const name of names) {
      const cacheDir = await tempDir('jitseg-bench-cache-');
      const server = await startOrigin(cacheDir);
      try {
        const sample = await playerStart(server.url, source.name, name);
        samples.get(name)!.push(sample);
        log(
          `  ${source.label} ${name} trial ${trial + 1}: first segment after ${formatMs(sample.totalMs)} ` +
            `(master ${formatMs(sample.manifestMs)}, video ${formatMs(sample.videoMs)}, audio ${formatMs(sample.audioMs)})`,
        );
      } finally {
        await server.stop();
        await removeTempDir(cacheDir);
      }
    }
  }
  return names.map((name) => {
    const list = samples.get(name)!;
    return {
      source: source.label,
      rendition: name,
      samples: list,
      medianTotalMs: median(list.map((s) => s.totalMs)),
      medianManifestMs: median(list.map((s) => s.manifestMs)),
      medianVideoMs: median(list.map((s) => s.videoMs)),
      medianAudioMs: median(list.map((s) => s.audioMs)),
    };
  });
}

export function reportTtfs(ttfs: TtfsResult[]): string[] {
  const ms = formatMs;
  const trials = ttfs[0]?.samples.length ?? TTFS_TRIALS;
  return [
    `### Time to first segment, content never seen before (median of ${trials} fresh servers + caches per rendition)`,
    '',
    'A player starting playback: master playlist, then in parallel for the rendition and the default audio:',
    `media playlist → init.mp4 → segment_1.m4s (${PLAYER_CONNECTIONS} keep-alive connections).`,
    '',
    '| Source | Rendition | First segment (video + audio in) | Master playlist | Video in | Audio in |',
    '|---|---|---:|---:|---:|---:|',
    ...ttfs.map(
      (t) => `| ${t.source} | ${t.rendition} | ${ms(t.medianTotalMs)} | ${ms(t.medianManifestMs)} | ${ms(t.medianVideoMs)} | ${ms(t.medianAudioMs)} |`,
    ),
  ];
}
