import type { ProbeResult } from '../../src/probe/types.js';

/** A probe result built in memory: CFR video at `fps` with keyframes at the given seconds. */
export function syntheticProbe(options: {
  seconds: number;
  fpsNum?: number;
  fpsDen?: number;
  keyframeSeconds: number[];
  width?: number;
  height?: number;
  audioTracks?: number;
}): ProbeResult {
  const fpsNum = options.fpsNum ?? 24000;
  const fpsDen = options.fpsDen ?? 1001;
  const timescale = fpsNum;
  const frameCount = Math.round((options.seconds * fpsNum) / fpsDen);
  const framePts = Array.from({ length: frameCount }, (_, i) => i * fpsDen);
  const keyframePts = options.keyframeSeconds.map((s) => Math.round((s * fpsNum) / fpsDen) * fpsDen);
  const endPts = frameCount * fpsDen;
  return {
    prober: 'mp4box',
    container: 'mp4',
    startSeconds: 0,
    durationSeconds: endPts / timescale,
    video: {
      index: 0,
      codec: 'h264',
      width: options.width ?? 1920,
      height: options.height ?? 1080,
      sampleAspectRatio: '1:1',
      rotation: 0,
      timescale,
      frameRate: fpsNum / fpsDen,
      framePts,
      keyframePts,
      endPts,
    },
    audio: Array.from({ length: options.audioTracks ?? 1 }, (_, index) => ({
      index,
      codec: 'aac',
      channels: 2,
      sampleRate: 44100,
      language: index === 0 ? 'eng' : 'fra',
      isDefault: index === 0,
      startSeconds: 0,
      endSeconds: endPts / timescale,
    })),
  };
}
