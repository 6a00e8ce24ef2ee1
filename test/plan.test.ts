import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { assertManifestable, makePlan, OUTPUT_TIMESCALE, planCuts, rescale, segmentFileName, segmentNumberFromFileName, type AudioSegment, type Plan } from '../src/plan/plan.js';
import { dashFrameRate, frameRates, hlsFrameRate, rationalValue, reduce } from '../src/plan/frame-rate.js';
import { ProbeError } from '../src/probe/errors.js';
import type { ProbeResult, VideoTrackProbe } from '../src/probe/types.js';
import { syntheticProbe } from './support/synthetic-probe.js';
import { warmManifestPath, warmUpProbes } from '../src/library/warm-up.js';

const config = defaultStreamingConfig();

describe('planCuts', () => {
  it('cuts on keyframes near the target and keeps the first segment short', () => {
    const probe = syntheticProbe({ seconds: 30, keyframeSeconds: [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28] });
    const cuts = planCuts(probe.video, 4).map((pts) => pts / probe.video.timescale);
    expect(cuts[0]).toBe(0);
    expect(cuts[1]).toBeCloseTo(2.002, 2);
    for (let i = 2; i < cuts.length; i++) expect(cuts[i]! - cuts[i - 1]!).toBeCloseTo(4, 0);
    const keys = new Set(probe.video.keyframePts);
    for (const pts of planCuts(probe.video, 4)) expect(keys.has(pts)).toBe(true);
  });

  it('splits a long GOP between keyframes', () => {
    const probe = syntheticProbe({ seconds: 30, keyframeSeconds: [0, 10, 20] });
    const cuts = planCuts(probe.video, 4);
    const gaps = cuts.slice(1).map((c, i) => (c - cuts[i]!) / probe.video.timescale);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(6.01);
    expect(cuts.length).toBeGreaterThanOrEqual(7);
    // Every cut is a real frame.
    const frames = new Set(probe.video.framePts);
    for (const c of cuts) expect(frames.has(c)).toBe(true);
  });

  it('is deterministic and covers every frame exactly once', () => {
    const probe = syntheticProbe({ seconds: 61, keyframeSeconds: [0, 1.5, 4.2, 7, 11.3, 12, 17.9, 20, 24.5, 28, 40, 55] });
    const a = makePlan(probe, config);
    const b = makePlan(probe, config);
    expect(a).toEqual(b);
    const total = a.videoSegments.reduce((n, s) => n + s.frameCount, 0);
    expect(total).toBe(probe.video.framePts.length);
    for (let i = 1; i < a.videoSegments.length; i++) {
      const prev = a.videoSegments[i - 1]!;
      expect(a.videoSegments[i]!.start).toBe(prev.start + prev.duration);
    }
  });

  it('counts frames and keyframe starts exactly like a brute-force scan, on irregular keyframes and VFR', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let trial = 0; trial < 40; trial++) {
      const seconds = 20 + Math.floor(random() * 200);
      const keys = [0];
      for (let t = random() * 3; t < seconds; t += random() < 0.2 ? 8 + random() * 10 : 0.5 + random() * 4) keys.push(t);
      const probe = syntheticProbe({ seconds, keyframeSeconds: keys });
      // Variable frame rate: drop one frame in seven (keyframes stay).
      const keySet = new Set(probe.video.keyframePts);
      probe.video.framePts = probe.video.framePts.filter((pts, i) => i % 7 !== 3 || keySet.has(pts));
      const plan = makePlan(probe, { ...config, segment_duration: 2 + (trial % 5) });
      let total = 0;
      for (const segment of plan.videoSegments) {
        const inSegment = probe.video.framePts.filter((pts) => pts >= segment.startPts && pts < segment.endPts).length;
        expect(segment.frameCount).toBe(inSegment);
        expect(segment.onKeyframe).toBe(probe.video.keyframePts.includes(segment.startPts));
        total += segment.frameCount;
      }
      expect(total).toBe(probe.video.framePts.length);
    }
  });

  it('honours the segment duration range 2–6 s', () => {
    const probe = syntheticProbe({ seconds: 120, keyframeSeconds: Array.from({ length: 240 }, (_, i) => i * 0.5) });
    for (const target of [2, 3, 4, 6]) {
      const plan = makePlan(probe, { ...config, segment_duration: target });
      const durations = plan.videoSegments.slice(1, -1).map((s) => s.duration / OUTPUT_TIMESCALE);
      for (const d of durations) expect(Math.abs(d - target)).toBeLessThan(0.3);
    }
  });
});

describe('ladder', () => {
  it('never upscales and keeps the aspect ratio with even sizes', () => {
    const plan = makePlan(syntheticProbe({ seconds: 10, keyframeSeconds: [0], width: 1280, height: 720 }), config);
    expect(plan.renditions.map((r) => [r.name, r.width, r.height])).toEqual([
      ['720p', 1280, 720],
      ['480p', 854, 480],
    ]);
  });

  it('uses the source size when it is below every profile', () => {
    const plan = makePlan(syntheticProbe({ seconds: 10, keyframeSeconds: [0], width: 320, height: 240 }), config);
    expect(plan.renditions).toHaveLength(1);
    expect(plan.renditions[0]).toMatchObject({ width: 320, height: 240 });
  });

  it('declares codec strings from the H.264 level that fits', () => {
    const plan = makePlan(syntheticProbe({ seconds: 10, keyframeSeconds: [0] }), config);
    expect(plan.renditions.map((r) => r.codecs)).toEqual(['avc1.640028', 'avc1.64001f', 'avc1.64001e']);
  });

  it('changes rendition ids when any output setting changes', () => {
    const probe = syntheticProbe({ seconds: 10, keyframeSeconds: [0] });
    const base = makePlan(probe, config).renditions.map((r) => r.id);
    const preset = makePlan(probe, { ...config, encoder: { ...config.encoder, preset: 'fast' } }).renditions.map((r) => r.id);
    const duration = makePlan(probe, { ...config, segment_duration: 6 }).renditions.map((r) => r.id);
    for (const other of [preset, duration]) for (let i = 0; i < base.length; i++) expect(other[i]).not.toBe(base[i]);
  });
});

describe('audio plan', () => {
  it('puts audio segments on one AAC frame grid that covers the track without gaps', () => {
    const probe = syntheticProbe({ seconds: 30, keyframeSeconds: [0, 4, 8, 12, 16, 20, 24, 28], audioTracks: 2 });
    const plan = makePlan(probe, config);
    expect(plan.audio).toHaveLength(2);
    for (const audio of plan.audio) {
      // Segment 1 starts with the encoder's priming frame, on the grid before the source's first sample.
      let expectedFrame = -1;
      for (const s of audio.segments) {
        expect(s.firstFrame).toBe(expectedFrame);
        expect(s.duration).toBe(s.frameCount * 1920);
        expectedFrame += s.frameCount;
      }
      const seconds = (expectedFrame * 1024) / 48000;
      expect(Math.abs(seconds - probe.audio[0]!.endSeconds)).toBeLessThan(1024 / 48000);
    }
    expect(plan.audio[0]!.isDefault).toBe(true);
  });

  it('starts segment 1 with the priming frame, one AAC frame before the first sample, and keeps the timeline contiguous', () => {
    const probe = syntheticProbe({ seconds: 20, fpsNum: 25, fpsDen: 1, keyframeSeconds: [0, 4, 8, 12, 16] });
    const plan = makePlan(probe, config);
    const audio = plan.audio[0]!;
    const [first, second] = audio.segments as [AudioSegment, AudioSegment];
    // Audio and video start together in the source: the priming frame (1024 samples = 1920 ticks) sits before the picture.
    expect(plan.videoSegments[0]!.start - first.start).toBe(1920);
    expect(second.firstFrame).toBe(first.firstFrame + first.frameCount);
    expect(first.firstFrame).toBe(-1);
    expect(first.duration).toBe(second.start - first.start);
    for (let i = 1; i < audio.segments.length; i++) {
      expect(audio.segments[i]!.start).toBe(audio.segments[i - 1]!.start + audio.segments[i - 1]!.duration);
    }
  });
});

/** Every number a manifest prints from the plan, by where it comes from. */
function manifestNumbers(plan: Plan): Array<[string, number]> {
  return [
    ['durationSeconds', plan.durationSeconds],
    ['frameRate', plan.frameRate],
    ...plan.videoSegments.map((s): [string, number] => [`video segment ${s.index + 1} duration`, s.duration]),
    ...plan.renditions.flatMap((r): Array<[string, number]> => [[`${r.name} peak`, r.peakBandwidth], [`${r.name} average`, r.averageBandwidth], [`${r.name} width`, r.width], [`${r.name} height`, r.height]]),
    ...plan.audio.flatMap((a) => a.segments.map((s): [string, number] => [`${a.id} segment ${s.index + 1} duration`, s.duration])),
  ];
}

const refusal = (run: () => unknown): unknown => {
  try {
    run();
  } catch (err) {
    return err;
  }
  return undefined;
};

describe('presentation start', () => {
  it('is the first picture, also when the audio starts earlier (an MPEG-TS AAC priming frame)', () => {
    const probe = syntheticProbe({ seconds: 20, fpsNum: 25, fpsDen: 1, keyframeSeconds: [0, 4, 8, 12, 16] });
    // Audio one AAC frame (1024 samples at 48 kHz) before the first picture, as ffmpeg writes MPEG-TS.
    probe.audio[0]!.startSeconds = -1024 / 48000;
    const plan = makePlan(probe, config);
    expect(plan.audio[0]!.segments[0]!.start).toBeLessThan(plan.videoSegments[0]!.start);
    // Starting at the audio left the video a gap at 0 that Shaka and dash.js jumped by a seek (mpegts-no-skip.test.ts).
    expect(plan.presentationTimeOffset).toBe(plan.videoSegments[0]!.start);
  });
});

describe('no Infinity, NaN or 0 reaches a manifest', () => {
  it('every printed number is finite and positive, on sources from a slideshow to 120 fps', () => {
    const sources: ProbeResult[] = [
      syntheticProbe({ seconds: 30, keyframeSeconds: [0, 10, 20] }),
      syntheticProbe({ seconds: 5, fpsNum: 120, fpsDen: 1, keyframeSeconds: [0], width: 64, height: 64 }),
      syntheticProbe({ seconds: 600, fpsNum: 1, fpsDen: 10, keyframeSeconds: [0, 100, 300], width: 2, height: 2 }),
      syntheticProbe({ seconds: 0.5, keyframeSeconds: [0], width: 1, height: 1 }),
    ];
    for (const probe of sources) {
      const plan = makePlan(probe, config);
      for (const [what, value] of manifestNumbers(plan)) expect(Number.isFinite(value) && value > 0, `${what} = ${value}`).toBe(true);
    }
  });

  it('cuts a slideshow at its frames instead of making the rest of the file one segment', () => {
    // One picture every 10 s for 10 minutes: no frame falls in any 2–6 s window.
    const probe = syntheticProbe({ seconds: 600, fpsNum: 1, fpsDen: 10, keyframeSeconds: [0] });
    const plan = makePlan(probe, config);
    expect(plan.videoSegments).toHaveLength(60);
    for (const s of plan.videoSegments) expect(s.duration / OUTPUT_TIMESCALE).toBeCloseTo(10, 6);
  });

  it("refuses (as the probe's 415) a zero-duration source instead of planning BANDWIDTH=Infinity", () => {
    const probe = syntheticProbe({ seconds: 1, keyframeSeconds: [0] });
    probe.video.framePts = [0];
    probe.video.keyframePts = [0];
    probe.video.endPts = 0;
    probe.video.frameRate = 0;
    probe.durationSeconds = 0;
    probe.audio = [];
    const err = refusal(() => makePlan(probe, config));
    expect(err).toBeInstanceOf(ProbeError);
    expect((err as ProbeError).kind).toBe('impossible');
  });

  it('assertManifestable names each kind of impossible number', () => {
    const good = makePlan(syntheticProbe({ seconds: 20, keyframeSeconds: [0, 4, 8, 12, 16] }), config);
    expect(assertManifestable(good)).toBe(good);
    const broken: Array<[string, (plan: Plan) => void]> = [
      ['duration', (p) => (p.durationSeconds = 0)],
      ['frame rate', (p) => (p.frameRate = Number.NaN)],
      ['video segment', (p) => (p.videoSegments[1]!.duration = 0)],
      ['bandwidth', (p) => (p.renditions[0]!.peakBandwidth = Number.POSITIVE_INFINITY)],
      ['audio segment', (p) => (p.audio[0]!.segments[0]!.duration = Number.NaN)],
      ['no video segment', (p) => (p.videoSegments = [])],
    ];
    for (const [what, breakIt] of broken) {
      const plan = structuredClone(good);
      breakIt(plan);
      const err = refusal(() => assertManifestable(plan));
      expect(err, what).toBeInstanceOf(ProbeError);
    }
  });
});

describe('helpers', () => {
  it('rescales like av_rescale_q (round half away from zero)', () => {
    expect(rescale(1001, 24000, 90000)).toBe(3754);
    expect(rescale(2002, 24000, 90000)).toBe(7508);
    expect(rescale(1, 2, 1)).toBe(1);
  });

  it('maps segment numbers to file names and back, rejecting anything else', () => {
    expect(segmentFileName('segment_$Number$.m4s', 7)).toBe('segment_7.m4s');
    expect(segmentNumberFromFileName('segment_$Number$.m4s', 'segment_7.m4s')).toBe(7);
    for (const bad of ['segment_0.m4s', 'segment_07.m4s', 'segment_x.m4s', 'seg_7.m4s', 'segment_7.mp4']) {
      expect(segmentNumberFromFileName('segment_$Number$.m4s', bad)).toBeUndefined();
    }
  });
});

describe('declared frame rate', () => {
  /** A video track with the given frame times (ticks of `timescale`), keyframe at the first. */
  const track = (framePts: number[], timescale: number, endPts: number): VideoTrackProbe => ({
    ...syntheticProbe({ seconds: 1, keyframeSeconds: [0] }).video,
    timescale,
    framePts,
    keyframePts: [framePts[0]!],
    endPts,
  });
  /** `count` frames of a num/den grid read through a clock of `timescale` ticks, rounded as muxers do, from `firstTick`. */
  const onClock = (num: number, den: number, timescale: number, count: number, firstTick = 0) =>
    Array.from({ length: count }, (_, i) => firstTick + Math.round((i * timescale * den) / num));
  const RATES: Array<[num: number, den: number, hls: string, dash: string]> = [
    [24000, 1001, '23.976', '24000/1001'],
    [24, 1, '24.000', '24'],
    [25, 1, '25.000', '25'],
    [30000, 1001, '29.970', '30000/1001'],
    [60000, 1001, '59.940', '60000/1001'],
  ];

  it.each(RATES)('%i/%i is declared exactly whatever clock carries it', (num, den, hls, dash) => {
    const frames = Math.round((3 * num) / den);
    const clocks: Array<[string, VideoTrackProbe]> = [
      // An MP4 at the rate's own clock, its start and end trimmed by an edit list (a frame and half a frame).
      ['mp4 clock', track(onClock(num, den, num, frames, den), num, den + frames * den - Math.floor(den / 2))],
      ['Matroska milliseconds', track(onClock(num, den, 1000, frames, 21), 1000, 21 + Math.round((frames * 1000 * den) / num))],
      ['MPEG-TS 90 kHz', track(onClock(num, den, 90_000, frames, 126_000), 90_000, 126_000 + Math.round((frames * 90_000 * den) / num))],
      ['milliseconds remuxed to 16 kHz', track(onClock(num, den, 1000, frames).map((ms) => 16 * ms), 16_000, 16 * Math.round((frames * 1000 * den) / num))],
      ['milliseconds on a nanosecond clock', track(onClock(num, den, 1000, frames).map((ms) => 1e6 * ms), 1e9, 1e6 * Math.round((frames * 1000 * den) / num))],
    ];
    for (const [clock, video] of clocks) {
      const rates = frameRates(video);
      expect(rates.constant, clock).toBe(true);
      expect(rates.nominal, clock).toEqual(reduce(num, den));
      expect(hlsFrameRate(rates), clock).toBe(hls);
      expect(dashFrameRate(rates), clock).toBe(dash);
    }
  });

  it('keeps the grid rate of a stream with missing frames (an AVI at 1/25 s with a dropped frame)', () => {
    const pts = Array.from({ length: 150 }, (_, i) => i).filter((i) => i !== 1);
    const rates = frameRates(track(pts, 25, 150));
    expect(rates).toMatchObject({ constant: true, nominal: { num: 25, den: 1 } });
    expect(rationalValue(rates.average)).toBeCloseTo(149 / 6, 6);
    expect(dashFrameRate(rates)).toBe('25');
  });

  it('declares the highest rate to HLS and the average to DASH for variable-rate video', () => {
    // 2 s at 24 fps, then 2 s at 30 fps, on a millisecond clock.
    const pts = [...onClock(24, 1, 1000, 48), ...onClock(30, 1, 1000, 60, 2000)];
    const rates = frameRates(track(pts, 1000, 4000));
    expect(rates.constant).toBe(false);
    expect(hlsFrameRate(rates)).toBe('30.000');
    expect(dashFrameRate(rates)).toBe('27');
  });

  it('stays finite on a nanosecond clock with frames 4 ns apart between long gaps', () => {
    const pts = Array.from({ length: 2000 }, (_, i) => Math.floor(i / 10) * 1e9 + (i % 10) * 4);
    // Every frame is on a 4 ns grid: 250 million frames a second, most of them missing.
    const rates = frameRates(track(pts, 1e9, 200e9));
    expect(rates.nominal).toEqual({ num: 250_000_000, den: 1 });
    expect(Number.isFinite(rationalValue(rates.nominal))).toBe(true);
    expect(rationalValue(rates.average)).toBeCloseTo(10, 6);
  });

  it('reads a slideshow, one picture every 10 s', () => {
    const rates = frameRates(track(onClock(1, 10, 1000, 60), 1000, 600_000));
    expect(hlsFrameRate(rates)).toBe('0.100');
    expect(dashFrameRate(rates)).toBe('1/10');
  });

  it('puts the nominal rate in the plan, and the level follows the highest rate', () => {
    const probe = syntheticProbe({ seconds: 10, keyframeSeconds: [0] });
    // A 1 ms rounding in each timestamp moves the average (what the probe reports), not the declared rate.
    probe.video.frameRate = 23.926;
    expect(makePlan(probe, config).frameRates.nominal).toEqual({ num: 24000, den: 1001 });
    // 1080p, 2 s at 60 fps and 8 s at 20 fps: 28 fps on average fit level 4.0, its fastest second needs 4.2.
    const vfr = syntheticProbe({ seconds: 10, keyframeSeconds: [0] });
    vfr.video = track([...onClock(60, 1, 1000, 120), ...onClock(20, 1, 1000, 160, 2000)], 1000, 10_000);
    vfr.video.frameRate = 28;
    expect(makePlan(vfr, config).renditions[0]).toMatchObject({ height: 1080, levelIdc: 42, codecs: 'avc1.64002a' });
  });
});

describe('start-up warm-up', () => {
  it('runs the manifest path on a constant-rate and a variable-rate made-up probe', () => {
    expect(warmUpProbes().map((probe) => frameRates(probe.video).constant)).toEqual([true, false]);
    expect(() => warmManifestPath(defaultStreamingConfig())).not.toThrow();
  });
});
