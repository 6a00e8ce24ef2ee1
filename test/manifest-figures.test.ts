import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { parseM3u8, parseMpd } from './support/conformance.js';
import { exec } from './support/media.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';

/**
 * What the manifests of real files declare, through a real server: the
 * nominal frame rate of each container's kind of clock, and bit rates that
 * are never below what the segments measure — before anything is encoded,
 * and, corrected, once every segment exists.
 */

const ffmpeg = (args: string[]) => exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { maxBuffer: 1 << 24 });
const H264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '3', '-pix_fmt', 'yuv420p'];
const clip = (rate: string, seconds: number) => ['-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${rate}:duration=${seconds}`];

interface RateCase {
  file: string;
  hls: string;
  /** DASH @frameRate, or a check of it. */
  dash: string | ((value: string) => void);
  make: (target: string) => Promise<unknown>;
}

const RATES: Array<[rate: string, hls: string, dash: string]> = [
  ['24000/1001', '23.976', '24000/1001'],
  ['24', '24.000', '24'],
  ['25', '25.000', '25'],
  ['30000/1001', '29.970', '30000/1001'],
  ['60000/1001', '59.940', '60000/1001'],
];

const rateCases: RateCase[] = [
  ...RATES.flatMap(([rate, hls, dash]): RateCase[] => {
    const name = rate.replace('/', '-');
    return [
      // B-frames: the MP4 muxer writes an edit list for their delay.
      { file: `edit-list-${name}.mp4`, hls, dash, make: (t) => ffmpeg([...clip(rate, 3), ...H264, t]) },
      { file: `no-edit-list-${name}.mp4`, hls, dash, make: (t) => ffmpeg([...clip(rate, 3), ...H264, '-use_editlist', '0', t]) },
      { file: `mkv-${name}.mkv`, hls, dash, make: (t) => ffmpeg([...clip(rate, 3), ...H264, t]) },
    ];
  }),
  {
    // A cut made without re-encoding: the edit list starts the file 1.3 s into a GOP.
    file: 'cut-edit-list-24000-1001.mp4',
    hls: '23.976',
    dash: '24000/1001',
    make: async (t) => {
      const whole = `${t}.whole.mp4`;
      await ffmpeg([...clip('24000/1001', 6), ...H264, '-g', '48', whole]);
      await ffmpeg(['-ss', '1.3', '-i', whole, '-c', 'copy', t]);
    },
  },
  { file: 'avi-25.avi', hls: '25.000', dash: '25', make: (t) => ffmpeg([...clip('25', 3), '-c:v', 'mpeg4', '-pix_fmt', 'yuv420p', t]) },
  {
    // Variable rate: 2 s at 24 fps, then 2 s at 30 fps. HLS: the maximum; DASH: the average, 108 frames in 4 s.
    file: 'vfr-24-then-30.mkv',
    hls: '30.000',
    dash: (value) => {
      const [num, den = '1'] = value.split('/');
      expect(Number(num) / Number(den)).toBeCloseTo(27, 1);
    },
    make: (t) =>
      ffmpeg([
        ...clip('24', 2),
        ...clip('30', 2),
        '-filter_complex', '[0:v]settb=1/120[a];[1:v]settb=1/120[b];[a][b]concat=n=2:v=1[v]',
        '-map', '[v]', '-fps_mode', 'vfr', ...H264, t,
      ]),
  },
];

/** Attribute lists of the #EXT-X-STREAM-INF lines, with the URI after each. */
function variants(master: string): Array<{ attributes: Record<string, string>; uri: string }> {
  const lines = master.split('\n');
  return lines.flatMap((line, i) => {
    if (!line.startsWith('#EXT-X-STREAM-INF:')) return [];
    const attributes = Object.fromEntries([...line.slice(18).matchAll(/([A-Z-]+)=("[^"]*"|[^,]*)/g)].map((m) => [m[1]!, m[2]!.replace(/^"|"$/g, '')]));
    return [{ attributes, uri: lines[i + 1]! }];
  });
}

describe('FRAME-RATE and @frameRate are the nominal rate', () => {
  let server: TestServer;
  let mediaDir: string;

  beforeAll(async () => {
    mediaDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-rates-'));
    for (const c of rateCases) await c.make(path.join(mediaDir, c.file));
    server = await testServer(mediaDir, NO_PREFETCH);
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await Promise.all([mediaDir, server?.cacheDir].map((dir) => dir && rm(dir, { recursive: true, force: true })));
  });

  it('the MP4 sources with an edit list have one, the others not', async () => {
    for (const c of rateCases.filter((r) => r.file.endsWith('.mp4'))) {
      const bytes = await readFile(path.join(mediaDir, c.file));
      expect(bytes.includes('elst'), c.file).toBe(!c.file.startsWith('no-edit-list'));
    }
  });

  it.each(rateCases.map((c) => [c.file, c] as const))('%s', async (file, c) => {
    const master = await (await fetch(`${server.url}/vod/${file}/master.m3u8`)).text();
    const streams = variants(master);
    expect(streams.length).toBeGreaterThan(0);
    for (const { attributes } of streams) expect(attributes['FRAME-RATE']).toBe(c.hls);
    const mpd = await (await fetch(`${server.url}/vod/${file}/manifest.mpd`)).text();
    const frameRate = /<AdaptationSet[^>]*contentType="video"[^>]*frameRate="([^"]+)"/.exec(mpd)?.[1];
    expect(frameRate).toBeDefined();
    if (typeof c.dash === 'string') expect(frameRate).toBe(c.dash);
    else c.dash(frameRate!);
  });
});

/** A rendition as a player sees it: its segments' sizes and EXTINF durations. */
interface Fetched {
  bytes: number[];
  seconds: number[];
}

async function fetchEverySegment(playlistUrl: string): Promise<Fetched> {
  const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
  const bytes: number[] = [];
  const seconds: number[] = [];
  for (const segment of playlist.segments) {
    const response = await fetch(new URL(segment.uri, playlistUrl));
    expect(response.status, segment.uri).toBe(200);
    bytes.push((await response.arrayBuffer()).byteLength);
    seconds.push(segment.duration);
  }
  return { bytes, seconds };
}

/** RFC 8216 §4.1: a segment's bit rate is its size over its duration; the average is over all of them. */
function measured({ bytes, seconds }: Fetched): { average: number; peak: number } {
  const total = (values: number[]) => values.reduce((a, b) => a + b, 0);
  return { average: (8 * total(bytes)) / total(seconds), peak: Math.max(...bytes.map((b, i) => (8 * b) / seconds[i]!)) };
}

describe('bit rates are never below what the segments measure', () => {
  let server: TestServer;
  let mediaDir: string;
  const file = 'noisy-360p.mp4';

  beforeAll(async () => {
    mediaDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-figures-'));
    // Noise costs the encoder every bit its VBV allows (the case that put AVERAGE-BANDWIDTH 2 % under); in audio it
    // takes FFmpeg's AAC encoder over its target (the case that put DASH's 128000 under), more so after silence.
    await ffmpeg([
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25:duration=10,noise=alls=60:allf=t+u',
      '-f', 'lavfi', '-i', "aevalsrc=exprs='if(lt(t\\,0.5)\\,0\\,random(0)*2-1)':s=48000:d=10",
      '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '18', '-g', '50', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '256k', '-ac', '2',
      path.join(mediaDir, file),
    ]);
    // Two small renditions keep the encodes short; their rates are the ones noise overshoots.
    const profiles = [
      { name: '360p', width: 640, height: 360, bitrate: 700, quality: 23 },
      { name: '240p', width: 426, height: 240, bitrate: 300, quality: 23 },
    ];
    server = await testServer(mediaDir, { ...NO_PREFETCH, profiles, audio: { ...defaultStreamingConfig().audio, bitrate: 128 } });
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await Promise.all([mediaDir, server?.cacheDir].map((dir) => dir && rm(dir, { recursive: true, force: true })));
  });

  it('before encoding, and corrected from the made segments on the next request, without a URL changing', async () => {
    const base = `${server.url}/vod/${file}/`;
    const masterBefore = await fetch(`${base}master.m3u8`);
    const before = await masterBefore.text();
    const mpdBefore = await (await fetch(`${base}manifest.mpd`)).text();
    const hlsBefore = parseM3u8(before);
    expect(hlsBefore.playlists).toHaveLength(2);

    // Every segment of every rendition, through the server.
    const masterUrl = `${base}master.m3u8`;
    const audioUri = (Object.values(hlsBefore.mediaGroups.AUDIO.aac) as any[])[0].uri as string;
    const audio = measured(await fetchEverySegment(new URL(audioUri, masterUrl).href));
    const video = new Map<string, { average: number; peak: number }>();
    for (const variant of hlsBefore.playlists) {
      const id = /video\/([^/]+)\//.exec(variant.uri)![1]!;
      video.set(id, measured(await fetchEverySegment(new URL(variant.uri, masterUrl).href)));
    }

    const masterAfter = await fetch(masterUrl, { headers: { 'If-None-Match': masterBefore.headers.get('etag')! } });
    expect(masterAfter.status, 'a corrected manifest, not a 304').toBe(200);
    const after = await masterAfter.text();
    const mpdAfter = await (await fetch(`${base}manifest.mpd`)).text();
    expect(after).not.toBe(before);
    expect(variants(after).map((v) => v.uri), 'the same rendition URLs').toEqual(variants(before).map((v) => v.uri));
    expect([...mpdAfter.matchAll(/<Representation id="([^"]+)"/g)].map((m) => m[1])).toEqual([...mpdBefore.matchAll(/<Representation id="([^"]+)"/g)].map((m) => m[1]));
    const withoutBandwidth = (text: string) => text.replace(/bandwidth="\d+"/g, '').replace(/BANDWIDTH=\d+/g, '');
    expect(withoutBandwidth(mpdAfter)).toBe(withoutBandwidth(mpdBefore));
    expect(withoutBandwidth(after)).toBe(withoutBandwidth(before));
    // The content-addressed master declares the same corrected figures.
    const hash = /\/api\/v1\/content\/([0-9a-f]{64})\//.exec(after)![1]!;
    const contentMaster = await (await fetch(`${server.url}/api/v1/content/${hash}/master.m3u8`)).text();
    expect(variants(contentMaster).map((v) => v.attributes)).toEqual(variants(after).map((v) => v.attributes));

    const report: string[] = [];
    for (const [label, master, mpd] of [['before encoding', before, mpdBefore], ['after', after, mpdAfter]] as const) {
      for (const { attributes, uri } of variants(master)) {
        const id = /video\/([^/]+)\//.exec(uri)![1]!;
        const v = video.get(id)!;
        const declared = { average: Number(attributes['AVERAGE-BANDWIDTH']), peak: Number(attributes.BANDWIDTH) };
        report.push(`${label} ${id}: AVERAGE-BANDWIDTH ${declared.average} vs ${Math.round(v.average + audio.average)}, BANDWIDTH ${declared.peak} vs ${Math.round(v.peak + audio.peak)}`);
        expect(declared.average, `${label} ${id} AVERAGE-BANDWIDTH`).toBeGreaterThanOrEqual(v.average + audio.average);
        expect(declared.peak, `${label} ${id} BANDWIDTH`).toBeGreaterThanOrEqual(v.peak + audio.peak);
        if (label === 'after') {
          // Corrected to the measured figures (each rounded up; EXTINF carries microseconds).
          expect(declared.average - (v.average + audio.average)).toBeLessThan(3);
          expect(declared.peak - (v.peak + audio.peak)).toBeLessThan(3);
        }
      }
      const dash = parseMpd(mpd, { manifestUri: `${base}manifest.mpd` });
      const dashAudio = (Object.values(dash.mediaGroups.AUDIO.audio) as any[])[0].playlists[0];
      const representations = [...dash.playlists.map((p: any) => [p.attributes.NAME, p.attributes.BANDWIDTH, video.get(p.attributes.NAME)!]), [dashAudio.attributes.NAME, dashAudio.attributes.BANDWIDTH, audio]];
      for (const [id, bandwidth, m] of representations) {
        report.push(`${label} DASH ${id}: bandwidth ${bandwidth} vs average ${Math.round(m.average)}, peak ${Math.round(m.peak)}`);
        expect(bandwidth, `${label} DASH ${id} bandwidth`).toBeGreaterThanOrEqual(m.peak);
        if (label === 'after') expect(bandwidth - m.peak).toBeLessThan(2);
      }
    }
    console.log(report.join('\n'));
  });
});
