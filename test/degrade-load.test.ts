/**
 * Under a CPU hog on both cores, with one worker, a player-like client at 1×
 * (video and audio, HLS media playlists, a two-segment buffer) gets every
 * segment — no 503 — and the segments it got were degraded and counted. Which
 * segments are degraded is decided by state, never by how fast this machine
 * happens to be: prefetch is off, and `min_speed` is far above any measured
 * speed, so every video segment after the rendition's first (normal) one is
 * made fast. Nothing here asserts a duration.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseM3u8 } from './support/conformance.js';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const hogs: ChildProcess[] = [];
let server: TestServer;

beforeAll(async () => {
  const media = await mediaFolder({ 'small.mp4': await testSource('small') });
  server = await testServer(media, {
    ...NO_PREFETCH,
    segment_duration: 2,
    profiles: [{ name: '240p', width: 320, height: 240, bitrate: 600, quality: 23 }],
    encoder: encoderWith({ preset: 'veryfast', workers: 1, degrade: { enabled: true, queue_length: 64, min_speed: 1000 } }),
  });
  // One busy process per core, started here and stopped by their own pids.
  const devNull = openSync('/dev/null', 'w');
  for (let i = 0; i < 2; i++) hogs.push(spawn('yes', [], { stdio: ['ignore', devNull, 'ignore'] }));
}, 120_000);

afterAll(async () => {
  for (const hog of hogs) hog.kill('SIGKILL');
  await server?.close();
});

interface Track {
  base: string;
  segments: string[];
  seconds: number[];
}

async function track(url: string): Promise<Track> {
  const playlist = parseM3u8(await (await fetch(url)).text());
  return { base: url.replace(/[^/]+$/, ''), segments: playlist.segments.map((s: any) => s.uri), seconds: playlist.segments.map((s: any) => s.duration) };
}

describe('a player at 1× next to a CPU hog, one worker', () => {
  it('gets every segment, video and audio, without a 503; the video after segment 1 came degraded and was counted', async () => {
    const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'small.mp4' }) })).json();
    const master = parseM3u8(await (await fetch(`${server.url}${registered.urls.hls}`)).text());
    const hlsBase = `${server.url}/api/v1/content/${registered.hash}/`;
    const video = await track(hlsBase + master.playlists[0].uri);
    const audioGroup = Object.values(master.mediaGroups.AUDIO)[0] as Record<string, { uri: string }>;
    const audio = await track(hlsBase + Object.values(audioGroup)[0]!.uri);
    expect(video.segments.length).toBe(4);

    const statuses: number[] = [];
    const cacheControls: string[] = [];
    const fetchPart = async (url: string) => {
      const response = await fetch(url);
      statuses.push(response.status);
      await response.arrayBuffer();
      return response.headers.get('cache-control') ?? '';
    };
    await Promise.all([fetchPart(`${video.base}init.mp4`), fetchPart(`${audio.base}init.mp4`)]);
    // A player: keeps two segments buffered ahead of a playhead that moves at 1× once the first segment is in.
    let playStarted: number | undefined;
    let buffered = 0;
    for (let i = 0; i < video.segments.length; i++) {
      const playhead = playStarted === undefined ? 0 : (performance.now() - playStarted) / 1000;
      const ahead = buffered - playhead;
      if (ahead > 2 * video.seconds[i]!) await new Promise((r) => setTimeout(r, (ahead - 2 * video.seconds[i]!) * 1000));
      const [videoCache] = await Promise.all([fetchPart(video.base + video.segments[i]), fetchPart(audio.base + audio.segments[i])]);
      cacheControls.push(videoCache);
      buffered += video.seconds[i]!;
      playStarted ??= performance.now();
    }

    expect(statuses.every((s) => s === 200), `statuses ${statuses.join(',')}`).toBe(true);
    expect(cacheControls[0]).toBe('public, max-age=31536000, immutable');
    expect(cacheControls.slice(1)).toEqual(Array(video.segments.length - 1).fill('public, max-age=10'));
    const metrics = await scrape(server.url);
    expect(metricValue(metrics, 'jitseg_degraded_segments_total', { kind: 'video' })).toBe(video.segments.length - 1);
    expect(metricValue(metrics, 'jitseg_degraded_segments_total', { kind: 'audio' })).toBe(0);
    expect(metricValue(metrics, 'jitseg_requests_refused_total')).toBe(0);
  }, 120_000);
});
