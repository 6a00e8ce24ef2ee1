/**
 * Where the cold manifest of the 2-hour MP4 (or any file given, e.g. the 2-hour MKV) spends its time:
 *   npx tsx bench/manifest-breakdown.ts [file] [trials]
 *
 * Each trial runs in a fresh Node process with a fresh cache dir (the modules
 * are imported first, and the server's start-up steps run, as the server
 * does before it listens, untimed: probe worker loaded, manifest-path
 * warm-up where the code has them), and
 * walks the steps of MediaLibrary.register + the /vod/ route one by one with
 * the product's own functions: path resolution, content hash (+ the id index
 * write), probe (split into its moov read and the moov analysis in a second
 * fresh process, so both halves are measured cold), plan, persisting
 * probe.json/metadata.json (serialise + write), and rendering the playlists.
 * For a Matroska file the probe's parts are timed instead of the moov halves: ffprobe's stream
 * listing, the one-pass scan of the video blocks, and (before) the two whole-file scans it replaced.
 * Prints the median of each step over the trials: wall time, and the process's CPU time over the
 * step (all threads; the probe's is the worker's). metadata.json is written before the response, the
 * id index and probe.json after it (shown apart, not in the sums). The first section runs the
 * product's MediaLibrary.register itself (hash and probe overlapped, as the server does).
 *
 * This is a diagnostic: the steps run back to back here, while the server
 * overlaps some of them (e.g. the probe.json write runs after the response).
 */
import { open, mkdtemp, rm, stat, realpath } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { median } from './lib.js';
import { ensureLong30MinMp4, ensureLongMp4, LONG_MP4 } from './sources.js';

type Timings = Record<string, number>;

async function childRegisterPath(file: string, warmUpFile?: string): Promise<Timings> {
  // "Running server": the same steps once on other content first, so the code is JIT-warm but this file is new.
  if (warmUpFile) await childRegisterPath(warmUpFile);
  // Imports first (the server has them loaded before its first request).
  const { defaultStreamingConfig } = await import('../src/config/config.js');
  const { ContentIdIndex, stampOf } = await import('../src/store/content-id.js');
  const { ContentStore } = await import('../src/store/content-store.js');
  const { LocalRegistry } = await import('../src/coordinate/registry.js');
  const probeModule = await import('../src/probe/index.js');
  // After the change the manifest path leaves the first-frame decode check to the first encode (probeSourceDeferred).
  const deferred = (probeModule as { probeSourceDeferred?: (path: string) => Promise<{ probe: Awaited<ReturnType<typeof probeModule.probeSource>> }> }).probeSourceDeferred;
  const probeSource = deferred ? async (path: string) => (await deferred(path)).probe : probeModule.probeSource;
  const { makePlan } = await import('../src/plan/plan.js');
  const { multivariantPlaylist, videoMediaPlaylist } = await import('../src/manifest/hls.js');
  const { dashManifest } = await import('../src/manifest/dash.js');
  // (src/probe/serialize.ts exists after the change; before it, probe.json was JSON.stringify(probe).)
  const serialize = await import('../src/probe/serialize.js').catch(() => undefined);
  const config = defaultStreamingConfig();
  // What the server does at start-up, before it listens (after the change: warm-up, and waiting for the probe worker).
  const warmUp = await import('../src/library/warm-up.js').catch(() => undefined);
  if (!warmUpFile) {
    await probeModule.warmProbeWorkers();
    warmUp?.warmManifestPath(config);
  }
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-breakdown-'));
  const { t, lap, restart } = stopwatch();
  try {
    const store = new ContentStore(cacheDir);
    await store.init();
    const ids = new ContentIdIndex(cacheDir);
    await ids.load();
    const start = restart();

    const real = await realpath(file);
    const handle = await open(real, 'r');
    const stamp = stampOf(await handle.stat());
    lap('resolve + stat');
    const hash = await ids.identify(real, handle, stamp, config.storage.hash_mode).finally(() => handle.close());
    lap('content hash');
    // The server writes the id index after the response (identify() does not wait for it): timed apart, not in the sums.
    const afterResponse: Timings = {};
    let mark = performance.now();
    await ids.flush();
    afterResponse['(after the response) id index write'] = performance.now() - mark;
    restart();
    const cached = await store.readJson(hash, 'probe.json');
    if (cached) throw new Error('fresh cache expected');
    lap('probe.json lookup (miss)');
    const probe = await probeSource(real);
    lap(/\.(mp4|mov|m4v)$/i.test(file) ? 'probe (moov read + analysis)' : 'probe (in the probe worker)');
    const plan = makePlan(probe, config);
    lap('plan');
    const master = multivariantPlaylist(plan, `/api/v1/content/${hash}/`);
    lap('master playlist');
    const before = performance.now() - start;
    const probeText = serialize ? serialize.serializeProbe(probe) : JSON.stringify(probe);
    lap('probe.json serialise (its text is the fingerprint)');
    // What the server writes before the response: the content's record (metadata.json, durable: file + directories fsynced).
    await new LocalRegistry(store).put({ metadata: { hash, path: path.basename(file), size: stamp.size, mtimeMs: stamp.mtimeMs, registeredAt: new Date().toISOString(), container: probe.container, durationSeconds: probe.durationSeconds, video: { codec: probe.video.codec, width: probe.video.width, height: probe.video.height, frameRate: probe.video.frameRate }, audio: [] }, probeFingerprint: '' });
    lap('metadata.json write (durable)');
    const indexWrite = afterResponse['(after the response) id index write']!;
    t['sum of the steps above'] = performance.now() - start - indexWrite;
    t['(steps before persisting)'] = before - indexWrite;
    // probe.json: written PROBE_WRITE_DELAY_MS after the registration in the server (media-library.ts).
    mark = performance.now();
    await store.write(path.join(store.contentDir(hash), 'probe.json'), probeText);
    afterResponse['(1 s after the response) probe.json write'] = performance.now() - mark;
    Object.assign(t, afterResponse);
    t['probe.json bytes'] = probeText.length;
    // The other playlists a player asks for next (not part of the cold manifest request).
    restart();
    videoMediaPlaylist(plan);
    lap('(next) video media playlist');
    dashManifest(plan, `/api/v1/content/${hash}/`);
    lap('(next) DASH MPD');
    if (!master.startsWith('#EXTM3U')) throw new Error('bad playlist');
    return t;
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

/**
 * The product's own composition, in a fresh process after the server's start-up steps: MediaLibrary.register
 * (hash and probe overlapped, plan, the durable metadata.json; the id index and probe.json written after) and
 * the master playlist; then the same request again, with the plan in memory.
 */
async function childLibrary(file: string): Promise<Timings> {
  const { defaultStreamingConfig } = await import('../src/config/config.js');
  const { ContentIdIndex } = await import('../src/store/content-id.js');
  const { ContentStore } = await import('../src/store/content-store.js');
  const { MediaLibrary } = await import('../src/library/media-library.js');
  const { warmProbeWorkers } = await import('../src/probe/index.js');
  const { warmManifestPath } = await import('../src/library/warm-up.js');
  const { multivariantPlaylist } = await import('../src/manifest/hls.js');
  const config = defaultStreamingConfig();
  await warmProbeWorkers();
  warmManifestPath(config);
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-breakdown-'));
  const { t, lap, restart } = stopwatch();
  try {
    const store = new ContentStore(cacheDir);
    await store.init();
    const ids = new ContentIdIndex(cacheDir);
    await ids.load();
    const library = new MediaLibrary(path.dirname(file), store, ids, config);
    restart();
    const content = await library.register(path.basename(file));
    multivariantPlaylist(content.plan, `/api/v1/content/${content.metadata.hash}/`);
    lap('register + master playlist (fresh process)');
    const again = await library.register(path.basename(file));
    multivariantPlaylist(again.plan, `/api/v1/content/${again.metadata.hash}/`);
    lap('register + master playlist (plan in memory)');
    await library.close();
    return t;
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

/** The probe's two halves, cold: the moov read (box walk + one read) and the analysis of the bytes. */
async function childProbeHalves(file: string): Promise<Timings> {
  const { analyzeMoov, keepClosedGopKeyframes } = await import('../src/probe/mp4.js');
  const { MP4BoxBuffer } = await import('mp4box');
  const { t, lap } = stopwatch();
  const fh = await open(file, 'r');
  let moov: InstanceType<typeof MP4BoxBuffer>;
  try {
    const size = (await fh.stat()).size;
    const hdr = Buffer.alloc(16);
    let offset = 0;
    let reads = 0;
    let found: { offset: number; size: number } | undefined;
    while (offset + 8 <= size) {
      await fh.read(hdr, 0, 16, offset);
      reads++;
      let boxSize = hdr.readUInt32BE(0);
      if (boxSize === 1) boxSize = Number(hdr.readBigUInt64BE(8));
      if (hdr.toString('latin1', 4, 8) === 'moov') {
        found = { offset, size: boxSize };
        break;
      }
      offset += boxSize;
    }
    if (!found) throw new Error('no moov');
    lap(`box walk (${reads} header reads)`);
    moov = new MP4BoxBuffer(found.size);
    moov.fileStart = 0;
    await fh.read(new Uint8Array(moov), 0, found.size, found.offset);
    lap(`moov read (${(found.size / 1e6).toFixed(2)} MB)`);
    const analysis = analyzeMoov(moov, 'isom');
    lap(`moov analysis (${analysis.probe.video.framePts.length} frames)`);
    const probe = await keepClosedGopKeyframes(fh, analysis);
    lap(`closed-GOP check (${analysis.syncSamples?.pts.length ?? 0} sync samples, ${probe.video.keyframePts.length} kept)`);
  } finally {
    await fh.close();
  }
  return t;
}

/**
 * A Matroska file's probe in parts, cold: ffprobe's stream listing, our one-pass scan of the
 * video blocks (matroska/video-scan.ts), and the two whole-file scans it replaced (ffprobe's
 * packet list beside an ffmpeg keyframe copy), which still run for what the scan does not read.
 */
async function childMatroskaParts(file: string): Promise<Timings> {
  const { execa: run } = await import('execa');
  const { scanMatroskaVideo } = await import('../src/probe/matroska/video-scan.js');
  const { scanVideoPackets } = await import('../src/probe/ffprobe.js');
  const { t, lap } = stopwatch();
  const { stdout } = await run('ffprobe', ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', file]);
  lap('ffprobe stream listing');
  const video = (JSON.parse(stdout) as { streams: Array<{ codec_type: string; codec_name: string; time_base: string }> }).streams.find((s) => s.codec_type === 'video')!;
  const scan = await scanMatroskaVideo(file, Date.now() + 60_000);
  lap(`one-pass Matroska scan (${scan ? `${scan.packets.packets} frames` : 'not used: falls back'})`);
  await scanVideoPackets(file, video.codec_name, Number(video.time_base.split('/')[0]), 0, Date.now() + 60_000);
  lap('(before) ffprobe packet scan + keyframe copy');
  return t;
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  if (mode === '--child-register' || mode === '--child-warm' || mode === '--child-probe' || mode === '--child-matroska' || mode === '--child-library') {
    const result =
      mode === '--child-library'
        ? await childLibrary(process.argv[3]!)
        : mode === '--child-probe'
        ? await childProbeHalves(process.argv[3]!)
        : mode === '--child-matroska'
          ? await childMatroskaParts(process.argv[3]!)
          : await childRegisterPath(process.argv[3]!, mode === '--child-warm' ? process.argv[4] : undefined);
    process.stdout.write(JSON.stringify(result));
    return;
  }
  const file = mode ?? (await ensureLongMp4(), LONG_MP4);
  const trials = Number(process.argv[3] ?? 7);
  const self = fileURLToPath(import.meta.url);
  const warmUp = await ensureLong30MinMp4();
  const runs: Record<string, Timings[]> = { library: [], register: [], warm: [], probe: [] };
  // The probe's halves are the MP4 path's (moov read, moov analysis); other containers show the probe whole.
  const isMp4 = /\.(mp4|mov|m4v)$/i.test(file);
  const isMatroska = /\.(mkv|webm)$/i.test(file);
  const modes = [
    ['library', '--child-library'],
    ['register', '--child-register'],
    ['warm', '--child-warm'],
    ...(isMp4 ? [['probe', '--child-probe'] as const] : []),
    ...(isMatroska ? [['probe', '--child-matroska'] as const] : []),
  ] as const;
  for (let i = 0; i < trials; i++) {
    for (const [key, flag] of modes) {
      const { stdout } = await execa(process.execPath, [...process.execArgv, self, flag, file, warmUp]);
      runs[key]!.push(JSON.parse(stdout) as Timings);
    }
  }
  const { size } = await stat(file);
  console.log(`cold manifest breakdown: ${file} (${(size / 1e6).toFixed(0)} MB), median of ${trials} fresh processes, load average ${os.loadavg()[0]!.toFixed(2)}`);
  const titles = {
    library: 'the server\'s own composition, MediaLibrary.register + master playlist (fresh process after start-up, then again):',
    register: 'register + /vod/ master.m3u8, step by step (fresh process: the first request after a start):',
    warm: `the same in a process that did it once for ${path.basename(warmUp)} first (new content, JIT-warm code):`,
    probe: isMp4 ? 'the probe in halves (another fresh process):' : 'the probe in parts, and the scans it replaced (another fresh process):',
  };
  for (const key of ['library', 'register', 'warm', 'probe'] as const) {
    if (runs[key]!.length === 0) continue;
    console.log(`\n${titles[key]}`);
    for (const name of Object.keys(runs[key]![0]!)) {
      if (name.endsWith(' [cpu]')) continue;
      const value = median(runs[key]!.map((t) => t[name]!));
      const cpu = runs[key]![0]![`${name} [cpu]`] === undefined ? '' : `  (CPU ${median(runs[key]!.map((t) => t[`${name} [cpu]`]!)).toFixed(2)} ms)`;
      console.log(`  ${name.padEnd(40)} ${name.includes('bytes') ? value.toFixed(0) : `${value.toFixed(2)} ms${cpu}`}`);
    }
  }
}

await main();

/**
 * Times consecutive steps: lap(name) records the time since the previous lap or restart(), and the
 * process's CPU time over it as `name [cpu]` (every thread: on a shared, loaded machine the wall time
 * includes waiting for a core, the CPU time does not).
 */
function stopwatch(): { t: Timings; lap: (name: string) => void; restart: () => number } {
  const t: Timings = {};
  const cpuNow = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  let last = performance.now();
  let lastCpu = cpuNow();
  return {
    t,
    lap: (name) => {
      const now = performance.now();
      const cpu = cpuNow();
      t[name] = now - last;
      t[`${name} [cpu]`] = cpu - lastCpu;
      last = now;
      lastCpu = cpu;
    },
    restart: () => {
      lastCpu = cpuNow();
      return (last = performance.now());
    },
  };
}
