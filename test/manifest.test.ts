import { parse as parseMpd } from 'mpd-parser';
import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { dashManifest } from '../src/manifest/dash.js';
import { figuresVersion, manifestFigures, type MadeSegments } from '../src/manifest/figures.js';
import { audioMediaPlaylist, multivariantPlaylist, videoMediaPlaylist } from '../src/manifest/hls.js';
import { audioSegmentBitsBound, bitrateFigures, videoSegmentBitsBound } from '../src/plan/bandwidth.js';
import { makePlan, type Plan } from '../src/plan/plan.js';
import { parseM3u8 } from './support/conformance.js';
import { syntheticProbe } from './support/synthetic-probe.js';

const probe = syntheticProbe({ seconds: 30, keyframeSeconds: [0, 1.5, 4.2, 7, 11.3, 12, 17.9, 20, 24.5, 28], audioTracks: 2 });
const plan = makePlan(probe, defaultStreamingConfig());

describe('HLS', () => {
  it('multivariant playlist lists every rendition with its attributes and an audio group', () => {
    const text = multivariantPlaylist(plan);
    const manifest = parseM3u8(text);
    expect(manifest.playlists).toHaveLength(plan.renditions.length);
    for (const variant of manifest.playlists) {
      const rendition = plan.renditions.find((r) => variant.uri === `video/${r.id}/playlist.m3u8`)!;
      expect(rendition).toBeDefined();
      expect(variant.attributes.RESOLUTION).toEqual({ width: rendition.width, height: rendition.height });
      expect(variant.attributes.CODECS).toBe(`${rendition.codecs},mp4a.40.2`);
      expect(variant.attributes.BANDWIDTH).toBeGreaterThan(Number(variant.attributes['AVERAGE-BANDWIDTH']));
      expect(Number(variant.attributes['FRAME-RATE'])).toBeCloseTo(23.976, 3);
      expect(variant.attributes.AUDIO).toBe('aac');
    }
    const audio = manifest.mediaGroups.AUDIO.aac;
    expect(Object.values(audio).map((a: any) => a.language)).toEqual(['en', 'fr']);
    expect(Object.values(audio).filter((a: any) => a.default)).toHaveLength(1);
    expect(text).toContain('#EXT-X-INDEPENDENT-SEGMENTS');
  });

  it('media playlists carry exact durations, the map and a valid target duration', () => {
    const text = videoMediaPlaylist(plan);
    const manifest = parseM3u8(text);
    expect(manifest.endList).toBe(true);
    expect(manifest.playlistType).toBe('VOD');
    expect(manifest.segments).toHaveLength(plan.videoSegments.length);
    manifest.segments.forEach((segment: any, i: number) => {
      expect(segment.duration).toBeCloseTo(plan.videoSegments[i]!.duration / 90000, 6);
      expect(segment.map.uri).toBe('init.mp4');
      expect(Math.round(segment.duration)).toBeLessThanOrEqual(manifest.targetDuration);
    });
    const total = manifest.segments.reduce((sum: number, s: any) => sum + s.duration, 0);
    expect(total).toBeCloseTo(probe.video.endPts / probe.video.timescale, 3);
    expect(text).toMatch(/#EXT-X-VERSION:7/);
  });

  it('audio playlists follow the audio plan', () => {
    const manifest = parseM3u8(audioMediaPlaylist(plan, plan.audio[1]!));
    manifest.segments.forEach((s: any, i: number) => expect(s.duration).toBeCloseTo(plan.audio[1]!.segments[i]!.duration / 90000, 6));
    expect(manifest.segments).toHaveLength(plan.audio[1]!.segments.length);
  });

  it('prefixes rendition URIs for path-addressed playlists', () => {
    const manifest = parseM3u8(multivariantPlaylist(plan, '/api/v1/content/abc/'));
    expect(manifest.playlists[0].uri).toMatch(/^\/api\/v1\/content\/abc\/video\//);
  });
});

describe('DASH', () => {
  it('MPD has one video AdaptationSet with every rendition, audio sets with lang, exact timelines', () => {
    const xml = dashManifest(plan);
    const parsed = parseMpd(xml, { manifestUri: 'http://origin.test/api/v1/content/abc/manifest.mpd' });
    expect(parsed.playlists).toHaveLength(plan.renditions.length);
    for (const playlist of parsed.playlists) {
      expect(playlist.segments).toHaveLength(plan.videoSegments.length);
      playlist.segments.forEach((segment: any, i: number) => {
        expect(segment.duration).toBeCloseTo(plan.videoSegments[i]!.duration / 90000, 6);
        expect(segment.resolvedUri).toMatch(new RegExp(`/api/v1/content/abc/video/${playlist.attributes.NAME}/segment_${i + 1}\\.m4s$`));
      });
      expect(playlist.segments[0].start ?? 0).toBeCloseTo(0, 6);
    }
    const audioGroups = Object.values(parsed.mediaGroups.AUDIO.audio) as any[];
    expect(audioGroups.map((g) => g.language).sort()).toEqual(['en', 'fr']);
    expect((xml.match(/<AdaptationSet/g) ?? []).length).toBe(3);
    expect(xml).toContain('segmentAlignment="true"');
    expect(parsed.duration).toBeCloseTo(probe.durationSeconds, 2);
  });
});

/** A deterministic pseudo-random sequence in [0, 1). */
function randomSequence(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

/** Sizes (bytes) the segments of every rendition could have: at most their bound, somewhere in 30–100 % of it. */
function possibleSizes(p: Plan, random: () => number): { video: Record<string, number[]>; audio: Record<string, number[]> } {
  const fraction = () => 0.3 + 0.7 * random();
  return {
    video: Object.fromEntries(
      p.renditions.map((r) => [r.id, p.videoSegments.map((s) => Math.floor((fraction() * videoSegmentBitsBound(r.maxrateKbps, r.bufsizeKbps, s.duration, p.timescale, s.frameCount)) / 8))]),
    ),
    audio: Object.fromEntries(p.audio.map((a) => [a.id, a.segments.map((s) => Math.floor((fraction() * audioSegmentBitsBound(a.bitrateKbps, s.duration, p.timescale, s.frameCount)) / 8))])),
  };
}

/** What the sizes measure, per rendition: total bits over total seconds, and the highest segment's bits per second. */
function measure(sizes: number[], durations: number[]): { average: number; peak: number } {
  const seconds = durations.map((d) => d / 90000);
  const bits = sizes.map((b) => 8 * b);
  return { average: bits.reduce((a, b) => a + b, 0) / seconds.reduce((a, b) => a + b, 0), peak: Math.max(...bits.map((b, i) => b / seconds[i]!)) };
}

describe('bit rate figures', () => {
  it('are the average and the highest single segment, rounded up', () => {
    const figures = bitrateFigures(
      [
        { bits: 1_000_000, ticks: 180_000 },
        { bits: 3_000_001, ticks: 360_000 },
        { bits: 100_000, ticks: 45_000 },
      ],
      90_000,
    );
    expect(figures).toEqual({ average: Math.ceil(4_100_001 / 6.5), peak: Math.ceil(3_000_001 / 4) });
  });

  it('before anything is made, are the plan\'s bounds', () => {
    const figures = manifestFigures(plan);
    for (const r of plan.renditions) expect(figures.video.get(r.id)).toEqual({ average: r.averageBandwidth, peak: r.peakBandwidth });
    for (const a of plan.audio) expect(figures.audio.get(a.id)).toEqual({ average: a.averageBandwidth, peak: a.peakBandwidth });
    // A libx264 segment spends at most maxrate × d plus its VBV buffer: the average bound is above maxrate.
    for (const r of plan.renditions) expect(r.averageBandwidth).toBeGreaterThan(r.maxrateKbps * 1000);
    for (const a of plan.audio) expect(a.averageBandwidth).toBeGreaterThan(a.bitrateKbps * 1000);
  });

  it('once every segment is made, are what the segments measure; on the way there, never below it', () => {
    const random = randomSequence(11);
    for (let trial = 0; trial < 20; trial++) {
      const truth = possibleSizes(plan, random);
      const all = manifestFigures(plan, truth);
      for (const r of plan.renditions) {
        const measured = measure(truth.video[r.id]!, plan.videoSegments.map((s) => s.duration));
        expect(all.video.get(r.id)!.average - measured.average).toBeGreaterThanOrEqual(0);
        expect(all.video.get(r.id)!.average - measured.average).toBeLessThan(1);
        expect(all.video.get(r.id)!.peak - measured.peak).toBeGreaterThanOrEqual(0);
        expect(all.video.get(r.id)!.peak - measured.peak).toBeLessThan(1);
      }
      for (const a of plan.audio) {
        const measured = measure(truth.audio[a.id]!, a.segments.map((s) => s.duration));
        expect(all.audio.get(a.id)!.average - measured.average).toBeGreaterThanOrEqual(0);
        expect(all.audio.get(a.id)!.average - measured.average).toBeLessThan(1);
      }
      // Some segments made, in any order: every figure between the measured one and the bound.
      const some: MadeSegments = {
        video: Object.fromEntries(Object.entries(truth.video).map(([id, sizes]) => [id, sizes.map((b) => (random() < 0.5 ? b : undefined))])),
        audio: Object.fromEntries(Object.entries(truth.audio).map(([id, sizes]) => [id, sizes.map((b) => (random() < 0.5 ? b : undefined))])),
      };
      const partial = manifestFigures(plan, some);
      const bounds = manifestFigures(plan);
      for (const kind of ['video', 'audio'] as const) {
        for (const [id, f] of partial[kind]) {
          for (const key of ['average', 'peak'] as const) {
            expect(f[key]).toBeGreaterThanOrEqual(all[kind].get(id)![key]);
            expect(f[key]).toBeLessThanOrEqual(bounds[kind].get(id)![key]);
          }
        }
      }
    }
  });

  it('go into both manifests, which change nothing else', () => {
    const truth = possibleSizes(plan, randomSequence(5));
    const measured = manifestFigures(plan, truth);
    expect(figuresVersion(measured)).not.toBe(figuresVersion(manifestFigures(plan)));
    const before = parseM3u8(multivariantPlaylist(plan));
    const after = parseM3u8(multivariantPlaylist(plan, '', '', measured));
    const widest = (key: 'average' | 'peak') => Math.max(...[...measured.audio.values()].map((f) => f[key]));
    expect(after.playlists.map((v: any) => v.uri)).toEqual(before.playlists.map((v: any) => v.uri));
    for (const variant of after.playlists) {
      const id = /video\/([^/]+)\//.exec(variant.uri)![1]!;
      expect(variant.attributes.BANDWIDTH).toBe(measured.video.get(id)!.peak + widest('peak'));
      expect(Number(variant.attributes['AVERAGE-BANDWIDTH'])).toBe(measured.video.get(id)!.average + widest('average'));
    }
    const xml = dashManifest(plan, '', '', measured);
    const declared = Object.fromEntries([...xml.matchAll(/<Representation id="([^"]+)"[^>]* bandwidth="(\d+)"/g)].map((m) => [m[1], Number(m[2])]));
    for (const [id, f] of [...measured.video, ...measured.audio]) expect(declared[id]).toBe(f.peak);
    // Only the bandwidth attributes differ.
    const strip = (text: string) => text.replace(/bandwidth="\d+"/g, '');
    expect(strip(xml)).toBe(strip(dashManifest(plan)));
  });
});
