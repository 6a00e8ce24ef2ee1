import { parse as parseMpd } from 'mpd-parser';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AAC_PRIMING_FRAMES, TIMELINE_OFFSET_SECONDS } from '../src/plan/plan.js';
import { decodeFrames as decode, parseM3u8, type Frame } from './support/conformance.js';
import { lanes } from './support/lanes.js';
import { ffprobeJson, mediaFolder, testSource } from './support/media.js';
import { encoderWith, testServer } from './support/server.js';

/**
 * The "done when": a 30 s 1080p 23.976 fps source plays end to end
 * through the HLS and the DASH entry points with ffmpeg as the client, for
 * every rendition, frame-exact and gapless.
 */

function checkContinuity(frames: Frame[], maxGap: number): void {
  for (let i = 1; i < frames.length; i++) {
    const step = frames[i]!.pts - frames[i - 1]!.pts;
    expect(step, `timestamps go backward at frame ${i}`).toBeGreaterThan(0);
    expect(step, `gap before frame ${i}`).toBeLessThanOrEqual(maxGap);
  }
}

let server: Awaited<ReturnType<typeof testServer>>;
let sourceFrames: number;
let sourceAudioSeconds: number;
let frameDuration: number;

beforeAll(async () => {
  const source = await testSource('main1080p');
  const probe = await ffprobeJson(['-count_packets', '-show_streams', source]);
  const video = probe.streams.find((s: any) => s.codec_type === 'video');
  const audio = probe.streams.find((s: any) => s.codec_type === 'audio');
  sourceFrames = Number(video.nb_read_packets);
  sourceAudioSeconds = Number(audio.duration);
  frameDuration = 1001 / 24000;
  // ultrafast halves the CPU of encoding the 1080p ladder; cuts, timestamps and packaging are the same command lines
  // under every preset (B-frames stay: -bf 3 is set whatever the preset).
  server = await testServer(await mediaFolder({ 'clips/movie.mp4': source }), { encoder: encoderWith({ preset: 'ultrafast' }) });
});

afterAll(async () => {
  await server?.close();
});

/**
 * Every video stream decodes to exactly the source's frames, gapless; the audio to the source's length, gapless. The
 * streams are decoded two at a time (each its own ffmpeg client), as many as the origin's two encode workers serve
 * at once on two cores: more would queue cold requests towards max_wait_seconds next to a CPU hog.
 */
async function expectPlaysLikeTheSource(url: string, videoMaps: string[], audioMap: string): Promise<void> {
  const lane = lanes(2);
  const [audio, ...videos] = await Promise.all([audioMap, ...videoMaps].map((map) => lane(() => decode(url, map))));
  videos.forEach((frames, i) => {
    expect(frames.length, `${videoMaps[i]} frame count`).toBe(sourceFrames);
    checkContinuity(frames, frameDuration * 1.01);
  });
  // The stream starts with the AAC encoder's priming frame, before the source's first sample (see the plan).
  const audioSeconds = audio!.slice(AAC_PRIMING_FRAMES).reduce((sum, f) => sum + f.duration, 0);
  expect(Math.abs(audioSeconds - sourceAudioSeconds)).toBeLessThan(0.05);
  checkContinuity(audio!, (1024 / 48000) * 1.01);
  const span = audio!.at(-1)!.pts + audio!.at(-1)!.duration - audio![AAC_PRIMING_FRAMES]!.pts;
  expect(Math.abs(span - audioSeconds)).toBeLessThan(0.001);
}

describe('HLS entry point with ffmpeg as the player', () => {
  it('plays every rendition frame-exact and gapless, with audio of the source length', async () => {
    const masterUrl = `${server.url}/vod/clips/movie.mp4/master.m3u8`;
    const master = parseM3u8(await (await fetch(masterUrl)).text());
    expect(master.playlists.length).toBe(3);
    // ffmpeg's HLS demuxer exposes each variant as a program.
    await expectPlaysLikeTheSource(masterUrl, master.playlists.map((_: unknown, i: number) => `0:p:${i}:v`), '0:p:0:a');
  });
});

describe('DASH entry point with ffmpeg as the player', () => {
  it('plays every representation frame-exact and gapless, with audio of the source length', async () => {
    const mpdUrl = `${server.url}/vod/clips/movie.mp4/manifest.mpd`;
    const manifest = parseMpd(await (await fetch(mpdUrl)).text(), { manifestUri: mpdUrl });
    expect(manifest.playlists.length).toBe(3);
    await expectPlaysLikeTheSource(mpdUrl, manifest.playlists.map((_: unknown, i: number) => `0:v:${i}`), '0:a:0');
  });
});

describe('manifests agree with the segments', () => {
  it('every EXTINF equals the duration ffprobe measures in the segments, video and audio', async () => {
    const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clips/movie.mp4' }) })).json();
    const hash = registered.hash;
    const master = parseM3u8(await (await fetch(`${server.url}/api/v1/content/${hash}/master.m3u8`)).text());
    const audioUri = (Object.values(master.mediaGroups.AUDIO.aac)[0] as any).uri;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-segments-'));
    const tracks = [
      { uri: master.playlists.at(-1).uri, step: 1001 / 24000 },
      { uri: audioUri, step: 1024 / 48000 },
    ];
    for (const { uri, step } of tracks) {
      const playlistUrl = `${server.url}/api/v1/content/${hash}/${uri}`;
      const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
      const init = Buffer.from(await (await fetch(new URL(playlist.segments[0].map.uri, playlistUrl))).arrayBuffer());
      const measured: { start: number; samples: number }[] = [];
      for (const [i, segment] of playlist.segments.entries()) {
        const body = Buffer.from(await (await fetch(new URL(segment.uri, playlistUrl))).arrayBuffer());
        const file = path.join(dir, `s${i}.mp4`);
        await writeFile(file, Buffer.concat([init, body]));
        const { packets } = await ffprobeJson(['-show_entries', 'packet=pts_time', file]);
        measured.push({ start: Math.min(...packets.map((p: any) => Number(p.pts_time))), samples: packets.length });
      }
      playlist.segments.forEach((segment: any, i: number) => {
        const label = `${uri} segment ${i + 1}`;
        // Constant frame/AAC-frame rate: the samples in a segment times the sample duration is its length.
        expect(measured[i]!.samples * step, label).toBeCloseTo(segment.duration, 3);
        // And the next segment starts exactly where this one's EXTINF says it ends.
        if (i + 1 < measured.length) expect(measured[i + 1]!.start - measured[i]!.start, label).toBeCloseTo(segment.duration, 4);
      });
    }
  });

  it('the DASH timeline, parsed by mpd-parser, matches the HLS playlists', async () => {
    const mpdUrl = `${server.url}/vod/clips/movie.mp4/manifest.mpd`;
    const mpd = parseMpd(await (await fetch(mpdUrl)).text(), { manifestUri: mpdUrl });
    const masterUrl = `${server.url}/vod/clips/movie.mp4/master.m3u8`;
    const master = parseM3u8(await (await fetch(masterUrl)).text());
    const hls = parseM3u8(await (await fetch(new URL(master.playlists[0].uri, masterUrl))).text());
    const dash = mpd.playlists[0].segments;
    expect(dash.length).toBe(hls.segments.length);
    dash.forEach((s: any, i: number) => expect(s.duration).toBeCloseTo(hls.segments[i].duration, 6));
  });
});

describe('cold segment from the middle', () => {
  it('starts with a keyframe at the planned time', async () => {
    const fresh = await testServer(await mediaFolder({ 'movie.mp4': await testSource('main1080p') }), { encoder: encoderWith({ preset: 'ultrafast' }) });
    try {
      const registered = await (await fetch(`${fresh.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'movie.mp4' }) })).json();
      const info = await (await fetch(`${fresh.url}${registered.urls.info}`)).json();
      const middle = Math.floor(info.segments / 2) + 1;
      const rendition = info.renditions[1].id;
      const base = `${fresh.url}/api/v1/content/${registered.hash}/video/${rendition}`;
      const segmentResponse = await fetch(`${base}/segment_${middle}.m4s`);
      expect(segmentResponse.status).toBe(200);
      const segment = Buffer.from(await segmentResponse.arrayBuffer());
      const init = Buffer.from(await (await fetch(`${base}/init.mp4`)).arrayBuffer());
      const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'jitseg-cold-')), 'mid.mp4');
      await writeFile(file, Buffer.concat([init, segment]));
      const { frames } = await ffprobeJson(['-select_streams', 'v', '-show_entries', 'frame=pts_time,key_frame,pict_type', file]);
      expect(frames[0].key_frame).toBe(1);
      expect(frames[0].pict_type).toBe('I');
      const plannedStart = TIMELINE_OFFSET_SECONDS + info.segmentDurations.slice(0, middle - 1).reduce((a: number, b: number) => a + b, 0);
      expect(Number(frames[0].pts_time)).toBeCloseTo(plannedStart, 3);
    } finally {
      await fresh.close();
    }
  });
});
