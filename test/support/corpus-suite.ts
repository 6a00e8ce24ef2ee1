import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorpusItem } from './corpus.js';
import {
  corpusSource, decodeFrames, expectAvSync, expectContinuousAudio, expectSameVideo, initCodec, measuredPeakBitrate, parseM3u8, parseMpd,
  sourceTruth, streamGeometry,
} from './conformance.js';
import { lanes } from './lanes.js';
import { mediaFolder } from './media.js';
import { encoderWith, testServer } from './server.js';

/** Streams each corpus item through HLS and DASH and checks it plays exactly like its source. */
export function corpusSuite(items: CorpusItem[]): void {
  let server: Awaited<ReturnType<typeof testServer>>;

  beforeAll(async () => {
    const files: Record<string, string> = {};
    for (const item of items) files[item.file] = await corpusSource(item);
    server = await testServer(await mediaFolder(files), { encoder: encoderWith({ preset: 'ultrafast' }) });
  });

  afterAll(async () => {
    await server?.close();
  });

  // Two items at a time: each is a chain of short ffmpeg runs, one at a time, and two keep the origin's
  // queue far from max_wait_seconds. Every item still has its own test and its own checks.
  const lane = lanes(2);
  describe.concurrent.each(items)('$name', (item) => {
    it('plays through HLS and DASH exactly like the source', () => lane(async () => {
      const source = await corpusSource(item);
      const truth = await sourceTruth(source, item.expect.audioTracks);
      const master = `${server.url}/vod/${item.file}/master.m3u8`;
      const mpd = `${server.url}/vod/${item.file}/manifest.mpd`;
      const hls = parseM3u8(await (await fetch(master)).text());
      const dash = parseMpd(await (await fetch(mpd)).text(), { manifestUri: mpd });
      expect(hls.playlists.length).toBeGreaterThan(0);
      expect(dash.playlists.length).toBe(hls.playlists.length);

      const audioGroup = Object.values(hls.mediaGroups.AUDIO?.aac ?? {}) as any[];
      // The sum of the video and the audio peaks bounds the peak of what a player downloads per second.
      const audioPeak = audioGroup.length > 0 ? await measuredPeakBitrate(new URL(audioGroup[0].uri, master).href) : 0;
      for (let i = 0; i < hls.playlists.length; i++) {
        expectSameVideo(`HLS rendition ${i}`, await decodeFrames(master, `0:p:${i}:v`), truth.video);
        expectSameVideo(`DASH representation ${i}`, await decodeFrames(mpd, `0:v:${i}`), truth.video);
        const playlistUrl = new URL(hls.playlists[i].uri, master).href;
        const variant = hls.playlists[i].attributes;
        expect(await initCodec(playlistUrl), 'init codec = declared CODECS').toBe(variant.CODECS.split(',')[0]);
        const peak = (await measuredPeakBitrate(playlistUrl)) + audioPeak;
        expect(peak, `measured peak ${Math.round(peak)} b/s ≤ BANDWIDTH ${variant.BANDWIDTH}`).toBeLessThanOrEqual(Number(variant.BANDWIDTH));
      }

      expect(audioGroup.length, 'audio renditions').toBe(item.expect.audioTracks);
      const firstVideo = await decodeFrames(mpd, '0:v:0');
      for (let t = 0; t < item.expect.audioTracks; t++) {
        const hlsAudio = await decodeFrames(new URL(audioGroup[t].uri, master).href, '0:a:0');
        const dashAudio = await decodeFrames(mpd, `0:a:${t}`);
        expectContinuousAudio(`HLS audio ${t}`, hlsAudio, truth.audio[t]!);
        expectContinuousAudio(`DASH audio ${t}`, dashAudio, truth.audio[t]!);
        expectAvSync(`audio ${t}`, firstVideo, truth.video, dashAudio, truth.audio[t]!);
      }
      if (item.expect.languages) {
        expect(audioGroup.map((a) => a.language)).toEqual(item.expect.languages);
        const dashLanguages = Object.values(dash.mediaGroups.AUDIO.audio).map((a: any) => a.language);
        expect([...dashLanguages].sort()).toEqual([...item.expect.languages].sort());
      }

      const top = hls.playlists.reduce((a: any, b: any) => (a.attributes.BANDWIDTH >= b.attributes.BANDWIDTH ? a : b));
      const geometry = await streamGeometry(new URL(top.uri, master).href);
      expect(geometry.sar === '1:1' || geometry.sar === '0:1', `square pixels (${geometry.sar})`).toBe(true);
      if (item.expect.display) expect({ width: geometry.width, height: geometry.height }).toEqual(item.expect.display);
      expect(top.attributes.RESOLUTION).toEqual({ width: geometry.width, height: geometry.height });
    }));
  });
}
