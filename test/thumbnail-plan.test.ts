/**
 * The thumbnail plan and its texts, as pure functions (no ffmpeg): which
 * keyframe each thumbnail shows, how thumbnails fill sheets, and that the
 * WebVTT index, the MPD's image AdaptationSet and the HLS image playlist say
 * the same times for a long film (a 2-hour plan, several sheets, a partly
 * filled last one), with signed URLs carried into every sheet URI.
 */
import { parse as parseMpd } from 'mpd-parser';
import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { dashManifest } from '../src/manifest/dash.js';
import { multivariantPlaylist } from '../src/manifest/hls.js';
import { dashImageAdaptationSet, hlsImagePlaylist, hlsImageStreamInf, thumbnailsVtt, vttTime } from '../src/manifest/thumbnails.js';
import { makePlan } from '../src/plan/plan.js';
import { tileOf, thumbnailPlan } from '../src/plan/thumbnails.js';
import { syntheticProbe } from './support/synthetic-probe.js';

const config = defaultStreamingConfig();

function planOf(seconds: number, keyframeSeconds: number[], size: { width?: number; height?: number } = {}) {
  const probe = syntheticProbe({ seconds, fpsNum: 25, fpsDen: 1, keyframeSeconds, ...size });
  const plan = makePlan(probe, config);
  return { probe, plan, thumbs: thumbnailPlan(probe.video, plan, config.thumbnails) };
}

describe('thumbnail plan', () => {
  it('shows the keyframe nearest the middle of each stretch (the earlier on a tie)', () => {
    // 5 s stretches, middles at 2.5, 7.5, 12.5, 17.5.
    const { thumbs } = planOf(20, [0, 2, 3, 7.6, 10, 15, 16, 19]);
    expect(thumbs.thumbnails.map((t) => [t.startSeconds, t.endSeconds, t.pts / 25])).toEqual([
      [0, 5, 2], // 2 and 3 are both 0.5 s from 2.5: the earlier
      [5, 10, 7.6],
      [10, 15, 10], // 10 and 15 tie at 2.5 s
      [15, 20, 16],
    ]);
    expect(thumbs.keyframesOnly).toBe(true);
    // The poster: nearest 2.0 s.
    expect(thumbs.poster.pts / 25).toBe(2);
  });

  it('a long GOP repeats a keyframe rather than decode other frames; a source without IDR frames shows its first picture', () => {
    const sparse = planOf(30, [0, 20]).thumbs;
    expect(sparse.thumbnails.map((t) => t.pts / 25)).toEqual([0, 0, 20, 20, 20, 20]);
    const none = planOf(12, []).thumbs;
    expect(none.keyframesOnly).toBe(false);
    expect(new Set(none.thumbnails.map((t) => t.pts))).toEqual(new Set([0]));
  });

  it('sizes follow the picture: 160 wide, even height; the poster never wider than the source', () => {
    expect(planOf(10, [0], { width: 1920, height: 1080 }).thumbs).toMatchObject({ width: 160, height: 90, poster: { width: 640, height: 360 } });
    expect(planOf(10, [0], { width: 1080, height: 1920 }).thumbs).toMatchObject({ width: 160, height: 284, poster: { width: 640, height: 1138 } });
    expect(planOf(10, [0], { width: 320, height: 240 }).thumbs).toMatchObject({ width: 160, height: 120, poster: { width: 320, height: 240 } });
  });

  it('fills sheets left to right, top to bottom, 100 tiles a sheet', () => {
    const { thumbs } = planOf(2 * 3600, Array.from({ length: 3600 }, (_, i) => i * 2));
    expect(thumbs.thumbnails).toHaveLength(1440);
    expect(thumbs.sheets).toBe(15);
    expect(tileOf(thumbs, 0)).toEqual({ sheet: 1, x: 0, y: 0 });
    expect(tileOf(thumbs, 11)).toEqual({ sheet: 1, x: 160, y: 90 });
    expect(tileOf(thumbs, 99)).toEqual({ sheet: 1, x: 1440, y: 810 });
    expect(tileOf(thumbs, 1439)).toEqual({ sheet: 15, x: 1440, y: 270 });
  });

  it('changes its id when anything its images depend on changes', () => {
    const probe = syntheticProbe({ seconds: 30, fpsNum: 25, fpsDen: 1, keyframeSeconds: [0, 4, 8, 12, 16, 20, 24, 28] });
    const plan = makePlan(probe, config);
    const ids = [
      thumbnailPlan(probe.video, plan, config.thumbnails).id,
      thumbnailPlan(probe.video, plan, { ...config.thumbnails, interval_seconds: 4 }).id,
      thumbnailPlan(probe.video, plan, { ...config.thumbnails, width: 240 }).id,
      thumbnailPlan(probe.video, plan, { ...config.thumbnails, columns: 5 }).id,
      thumbnailPlan({ ...probe.video, keyframePts: probe.video.keyframePts.slice(0, 4) }, plan, config.thumbnails).id,
    ];
    expect(new Set(ids).size).toBe(ids.length);
    expect(thumbnailPlan(probe.video, plan, config.thumbnails).id).toBe(ids[0]);
  });
});

describe('thumbnail texts of a 2-hour film', () => {
  const { plan, thumbs } = planOf(2 * 3600 + 0.4, Array.from({ length: 3601 }, (_, i) => i * 2));
  const query = '?exp=1&sig=abc';

  it('WebVTT: one cue per thumbnail, back to back, each pointing into its sheet (signed)', () => {
    const vtt = thumbnailsVtt(thumbs, query);
    const cues = [...vtt.matchAll(/^([\d:.]+) --> ([\d:.]+)\n(.*)$/gm)];
    expect(cues).toHaveLength(1441);
    expect(cues[0]!.slice(1)).toEqual(['00:00:00.000', '00:00:05.000', `tile_1.jpg${query}#xywh=0,0,160,90`]);
    expect(cues[1440]!.slice(1)).toEqual(['02:00:00.000', '02:00:00.400', `tile_15.jpg${query}#xywh=0,360,160,90`]);
    for (let i = 1; i < cues.length; i++) expect(cues[i]![1]).toBe(cues[i - 1]![2]);
    expect(vttTime(3723.0456)).toBe('01:02:03.046');
  });

  it('DASH: mpd-parser still sees only the video and audio; the image set says 100 tiles of 5 s a sheet', () => {
    const xml = dashManifest(plan, '', query, undefined, { images: (id) => dashImageAdaptationSet(thumbs, id, query) });
    expect(parseMpd(xml, { manifestUri: 'http://o.test/x/manifest.mpd' }).playlists).toHaveLength(plan.renditions.length);
    expect(xml).toContain(`<AdaptationSet id="${plan.audio.length + 1}" contentType="image" mimeType="image/jpeg">`);
    expect(xml).toContain(`<SegmentTemplate media="thumbs/${thumbs.id}/tile_$Number$.jpg?exp=1&amp;sig=abc" timescale="1000" duration="500000" startNumber="1"/>`);
    expect(xml).toContain(`width="1600" height="900"`);
    expect(xml).toContain('<EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" value="10x10"/>');
  });

  it('HLS: the image playlist lists every sheet, its EXTINFs adding up to the film', () => {
    const master = multivariantPlaylist(plan, '/p/', query, undefined, { images: [hlsImageStreamInf(thumbs, '/p/', query)] });
    expect(master.trimEnd().split('\n').at(-1)).toBe(`#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=11520,RESOLUTION=160x90,CODECS="jpeg",URI="/p/thumbs/${thumbs.id}/playlist.m3u8${query}"`);
    const playlist = hlsImagePlaylist(thumbs, query);
    const durations = [...playlist.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
    expect(durations).toHaveLength(15);
    expect(durations.slice(0, 14).every((d) => d === 500)).toBe(true);
    expect(durations.reduce((a, b) => a + b, 0)).toBeCloseTo(thumbs.durationSeconds, 3);
    expect(playlist).toContain(`tile_15.jpg${query}\n#EXT-X-ENDLIST`);
    expect(playlist).toContain('#EXT-X-TARGETDURATION:500');
  });
});
