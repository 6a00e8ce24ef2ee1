import { parse as parseMpd } from 'mpd-parser';
import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { dashManifest } from '../src/manifest/dash.js';
import { audioMediaPlaylist, multivariantPlaylist, videoMediaPlaylist } from '../src/manifest/hls.js';
import { makePlan } from '../src/plan/plan.js';
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
