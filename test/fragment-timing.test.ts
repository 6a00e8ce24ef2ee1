import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { earliestPresentationTime, findBoxes, readSamples, type TrackFragment } from '../src/package/fmp4.js';
import { fragmentProblem } from '../src/package/validate.js';
import { TIMELINE_OFFSET_SECONDS } from '../src/plan/plan.js';
import { decodeFrames, expectSameVideo, parseM3u8, type Frame } from './support/conformance.js';
import { mediaFolder, testSource } from './support/media.js';
import { encoderWith, NO_PREFETCH, testServer } from './support/server.js';

/**
 * Fragments place themselves: every video fragment is trun version 1, its
 * earliest presentation time is its tfdt and the time the MPD and the HLS
 * playlist give it, and no init carries an edit list (players that ignore one,
 * like hls.js's own bookkeeping, then agree with those that apply it). No
 * composition offset is negative (FFmpeg's fragmented-MP4 demuxer would
 * present the track late by the most negative one). On the B-frame source, so
 * samples really are reordered (its 360p form: both renditions are re-encoded
 * and scaled from it as from the 1080p one, at a ninth of the decode).
 */

let server: Awaited<ReturnType<typeof testServer>>;
let hash: string;
let sourceVideo: Frame[];

beforeAll(async () => {
  const source = await testSource('main360p');
  server = await testServer(await mediaFolder({ 'movie.mp4': source }), {
    ...NO_PREFETCH,
    profiles: [
      { name: '360p', width: 640, height: 360, bitrate: 900, quality: 26 },
      { name: '240p', width: 426, height: 240, bitrate: 400, quality: 28 },
    ],
    encoder: encoderWith({ preset: 'ultrafast' }),
  });
  hash = (await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'movie.mp4' }) })).json()).hash;
  sourceVideo = await decodeFrames(source, '0:v:0');
});

afterAll(async () => {
  await server?.close();
});

async function bytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`${url}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The one track fragment of a media segment. */
function trackFragment(segment: Uint8Array): TrackFragment {
  const trafs = findBoxes(segment, ['moof', 'traf']);
  expect(trafs.length).toBe(1);
  return readSamples(segment, trafs[0]!);
}

/** Each SegmentTimeline's segment start times (exact ticks), by AdaptationSet contentType. */
function mpdTimelines(mpd: string): { presentationTimeOffset: number; video: number[]; audio: number[][] } {
  const sets = [...mpd.matchAll(/<AdaptationSet[^>]*contentType="(video|audio)"[\s\S]*?<\/AdaptationSet>/g)];
  const starts = (set: string) => {
    const out: number[] = [];
    let next = 0;
    for (const [, t, d, r] of set.matchAll(/<S(?: t="(\d+)")? d="(\d+)"(?: r="(\d+)")?\/>/g)) {
      if (t !== undefined) next = Number(t);
      for (let i = 0; i <= Number(r ?? 0); i++) {
        out.push(next);
        next += Number(d);
      }
    }
    return out;
  };
  const offsets = [...mpd.matchAll(/presentationTimeOffset="(\d+)"/g)].map((m) => Number(m[1]));
  expect(new Set(offsets).size, 'one presentationTimeOffset').toBe(1);
  return {
    presentationTimeOffset: offsets[0]!,
    video: starts(sets.find((s) => s[1] === 'video')![0]),
    audio: sets.filter((s) => s[1] === 'audio').map((s) => starts(s[0])),
  };
}

describe('video fragments without edit lists', () => {
  it('every fragment of every rendition starts its presentation at its tfdt, the MPD time and the playlist time; no init has an edit list', async () => {
    const base = `${server.url}/api/v1/content/${hash}`;
    const timelines = mpdTimelines(await (await fetch(`${base}/manifest.mpd`)).text());
    const master = parseM3u8(await (await fetch(`${base}/master.m3u8`)).text());
    expect(master.playlists.length).toBe(2);
    let reordered = 0;
    for (const variant of master.playlists) {
      const playlistUrl = new URL(variant.uri, `${base}/master.m3u8`).href;
      const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
      const init = await bytes(new URL(playlist.segments[0].map.uri, playlistUrl).href);
      expect(findBoxes(init, ['moov', 'trak', 'edts']), `${variant.uri}: edit list in the init`).toEqual([]);
      expect(playlist.segments.length).toBe(timelines.video.length);
      let firstTfdt: number | undefined;
      let playlistTime = 0;
      for (const [i, entry] of playlist.segments.entries()) {
        const label = `${variant.uri} segment ${i + 1}`;
        const fragment = trackFragment(await bytes(new URL(entry.uri, playlistUrl).href));
        const tfdt = fragment.baseMediaDecodeTime;
        expect(fragment.trunVersion, `${label}: trun version`).toBe(1);
        expect(earliestPresentationTime(fragment), `${label}: earliest presentation time = tfdt`).toBe(tfdt);
        // The first sample (the IDR) decodes and presents at tfdt, where hls.js looks for the fragment's key frame.
        expect(fragment.samples[0]!.compositionOffset, `${label}: first sample's offset`).toBe(0);
        expect(tfdt, `${label}: tfdt = MPD time`).toBe(timelines.video[i]);
        expect(tfdt, `${label}: at or after presentationTimeOffset`).toBeGreaterThanOrEqual(timelines.presentationTimeOffset);
        firstTfdt ??= tfdt;
        // EXTINF has microseconds: the playlist time agrees to half a microsecond per segment before it.
        expect(Math.abs((tfdt - firstTfdt) / 90_000 - playlistTime), `${label}: tfdt = playlist time`).toBeLessThanOrEqual(0.5e-6 * (i + 1));
        playlistTime += entry.duration;
        expect(fragment.samples.filter((s) => s.compositionOffset < 0), `${label}: negative composition offsets`).toEqual([]);
        // A sample presented before the one decoded ahead of it: a B-frame.
        let decode = tfdt;
        const presented = fragment.samples.map((s) => {
          const time = decode + s.compositionOffset;
          decode += s.duration;
          return time;
        });
        reordered += presented.filter((time, k) => k > 0 && time < presented[k - 1]!).length;
      }
    }
    // B-frames are presented before samples decoded ahead of them: the re-timing really had reordering to handle.
    expect(reordered, 'samples presented before their predecessor in decode order').toBeGreaterThan(0);
  });

  it('a fragment whose presentation starts after its tfdt (the edit-list format) is refused', async () => {
    const base = `${server.url}/api/v1/content/${hash}`;
    const master = parseM3u8(await (await fetch(`${base}/master.m3u8`)).text());
    const segment = await bytes(new URL(`segment_2.m4s`, new URL(master.playlists[0].uri, `${base}/master.m3u8`)).href);
    const fragment = trackFragment(segment);
    const expectation = {
      sequence: 2,
      sampleCount: fragment.samples.length,
      baseMediaDecodeTime: fragment.baseMediaDecodeTime,
      duration: fragment.samples.reduce((n, s) => n + s.duration, 0),
      video: true,
    };
    expect(fragmentProblem(segment, expectation)).toBeUndefined();
    // Every composition offset two frames later, as when an edit list was to remove that delay.
    const delayed = Uint8Array.from(segment);
    const trun = findBoxes(delayed, ['moof', 'traf', 'trun'])[0]!;
    const view = new DataView(delayed.buffer);
    // Full box header, sample count, data offset; then duration, size, flags, offset per sample.
    for (let i = 0; i < fragment.samples.length; i++) view.setInt32(trun.payload + 12 + i * 16 + 12, fragment.samples[i]!.compositionOffset + 7507);
    expect(fragmentProblem(delayed, expectation)).toMatch(/earliest presentation time/);
  });

  it('audio fragments start at their tfdt and the MPD time too, and the audio init has no edit list', async () => {
    const base = `${server.url}/api/v1/content/${hash}`;
    const timelines = mpdTimelines(await (await fetch(`${base}/manifest.mpd`)).text());
    const master = parseM3u8(await (await fetch(`${base}/master.m3u8`)).text());
    const audio = Object.values(master.mediaGroups.AUDIO.aac) as { uri: string }[];
    expect(audio.length).toBe(1);
    const playlistUrl = new URL(audio[0]!.uri, `${base}/master.m3u8`).href;
    const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
    const init = await bytes(new URL(playlist.segments[0].map.uri, playlistUrl).href);
    expect(findBoxes(init, ['moov', 'trak', 'edts'])).toEqual([]);
    expect(playlist.segments.length).toBe(timelines.audio[0]!.length);
    for (const [i, entry] of playlist.segments.entries()) {
      const fragment = trackFragment(await bytes(new URL(entry.uri, playlistUrl).href));
      expect(earliestPresentationTime(fragment), `audio segment ${i + 1}`).toBe(fragment.baseMediaDecodeTime);
      expect(fragment.baseMediaDecodeTime, `audio segment ${i + 1}: tfdt = MPD time`).toBe(timelines.audio[0]![i]);
    }
  });

  it('ffmpeg decodes every rendition frame-exact, through HLS and DASH, each frame at its source time + 10 s', async () => {
    const base = `${server.url}/api/v1/content/${hash}`;
    for (const i of [0, 1]) {
      for (const [label, frames] of [
        [`HLS rendition ${i}`, await decodeFrames(`${base}/master.m3u8`, `0:p:${i}:v`)],
        [`DASH representation ${i}`, await decodeFrames(`${base}/manifest.mpd`, `0:v:${i}`)],
      ] as const) {
        expectSameVideo(label, frames, sourceVideo);
        // Not late by any composition offset: the one shift is the timeline's constant.
        expect(Math.abs(frames[0]!.pts - sourceVideo[0]!.pts - TIMELINE_OFFSET_SECONDS), `${label}: first frame's shift`).toBeLessThan(0.001);
      }
    }
  });
});
