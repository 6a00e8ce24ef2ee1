/**
 * Start-up warm-up of the manifest path: the per-frame loops a registration
 * runs on the event loop (the probe's frame runs decoded, its text and
 * fingerprint, the plan, the figures, the manifests) run a few times on a
 * made-up 30-minute probe, so V8 has compiled them (and mostly optimised
 * them) before the first request. Run cold, the same code takes several
 * times as long on a 2-hour film's 172,000 frames as it does warm (plan:
 * ~40 ms against ~5-12 ms). Pure: nothing is kept.
 */
import { createHash } from 'node:crypto';
import type { StreamingConfig } from '../config/config.js';
import { dashManifest } from '../manifest/dash.js';
import { figuresVersion, manifestFigures } from '../manifest/figures.js';
import { audioMediaPlaylist, multivariantPlaylist, videoMediaPlaylist } from '../manifest/hls.js';
import { makePlan } from '../plan/plan.js';
import { serializeProbe } from '../probe/serialize.js';
import type { ProbeResult } from '../probe/types.js';
import { fromWire, toWire } from '../probe/wire.js';

const ROUNDS = 3;
const SECONDS = 30 * 60;

export function warmManifestPath(config: StreamingConfig): void {
  // Both branches of the frame-rate reading: constant-rate, and clips a minute long joined with half a frame more between them.
  for (const probe of warmUpProbes()) {
    for (let round = 0; round < ROUNDS; round++) {
      const received = fromWire(toWire(probe));
      createHash('sha256').update(serializeProbe(received)).digest('hex');
      const plan = makePlan(received, config);
      const figures = manifestFigures(plan, { video: {}, audio: {} });
      figuresVersion(figures);
      multivariantPlaylist(plan, '/', '', figures);
      dashManifest(plan, '/', '', figures);
      videoMediaPlaylist(plan);
      for (const audio of plan.audio) audioMediaPlaylist(plan, audio);
    }
  }
}

/** The probes the warm-up runs on: one constant-rate, one not (joined clips). */
export function warmUpProbes(): ProbeResult[] {
  return [madeUpProbe(0), madeUpProbe(1440)];
}

/** 30 minutes of 24000/1001 fps video (a keyframe every 96 frames; ticks kept whole) and one stereo AAC track. */
function madeUpProbe(joinEvery: number): ProbeResult {
  const frameTicks = 1001;
  const timescale = 24_000;
  const count = Math.round((SECONDS * timescale) / frameTicks);
  const framePts: number[] = [];
  const keyframePts: number[] = [];
  let pts = 0;
  for (let i = 0; i < count; i++) {
    framePts.push(pts);
    if (i % 96 === 0) keyframePts.push(pts);
    pts += joinEvery > 0 && i % joinEvery === joinEvery - 1 ? frameTicks + 500 : frameTicks;
  }
  const endPts = pts;
  return {
    prober: 'mp4box',
    container: 'mp4',
    startSeconds: 0,
    durationSeconds: endPts / timescale,
    video: { index: 0, codec: 'h264', width: 1920, height: 1080, sampleAspectRatio: '1:1', rotation: 0, timescale, frameRate: timescale / frameTicks, framePts, keyframePts, endPts },
    audio: [{ index: 0, codec: 'aac', channels: 2, sampleRate: 48_000, language: 'und', isDefault: true, startSeconds: 0, endSeconds: endPts / timescale }],
  };
}
