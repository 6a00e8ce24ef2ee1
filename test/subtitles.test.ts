import { access, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, servePlayerPages } from './support/browser.js';
import { parseM3u8, parseMpd } from './support/conformance.js';
import { formatTime } from '../src/package/webvtt.js';
import { exec, ffprobeJson } from './support/media.js';
import { closePlayerRig } from './support/player-run.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

/**
 * Subtitles end to end: text tracks inside an MKV (two SubRip, eng and fre
 * forced, and an ASS), mov_text in an MP4 and a sidecar .en.srt become
 * WebVTT that hls.js, dash.js and Shaka show at the right times (the cue's
 * own start and end, to the millisecond), right after a segment cut and
 * after a seek; a PGS track is reported in /info and not offered.
 *
 * The video is 8 s with a keyframe every 2 s and 2 s segments: cuts at 2, 4
 * and 6 s (the MKV also has an AAC track starting with the video). The "across the cut" cue runs 1.7–2.9 s (over the cut at 2 s).
 */

const SECONDS = 8;
const cues = (lang: string) => [
  { start: 0.4, end: 1.6, text: `First line ${lang}` },
  { start: 1.7, end: 2.9, text: `Across the cut ${lang}` },
  { start: 5.04, end: 6.4, text: `After the seek ${lang}` },
];
/**
 * Where each check looks: a pause inside cue 1, a pause just after the cut at 2 s (cue 2), a seek into cue 3.
 * `from`: where the playhead must be for the check to mean what it says (inside the cue; past the cut).
 */
const CHECKS = [
  { how: 'pause', at: 0.6, from: 0.4, cue: 0 },
  { how: 'pause', at: 2.04, from: 2.0, cue: 1 },
  { how: 'seek', at: 5.6, from: 5.04, cue: 2 },
] as const;

const srtTime = (s: number) => {
  const ms = Math.round(s * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)},${pad(ms % 1000, 3)}`;
};
/** `offset`: seconds added to every cue, for a source whose first picture is that late (presentation time 0). */
const srt = (lang: string, offset = 0) =>
  cues(lang).map((c, i) => `${i + 1}\n${srtTime(c.start + offset)} --> ${srtTime(c.end + offset)}\n${c.text}\n`).join('\n');
/** late.mkv: video and subtitles start 1.5 s into the file's timeline (a remux of a recording, an MPEG-TS cut). */
const LATE_SECONDS = 1.5;
const ASS = `[Script Info]
ScriptType: v4.00+
PlayResX: 320
PlayResY: 180

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:03.50,Default,,0,0,0,,{\\an8}{\\b1}Bold{\\b0} and {\\i1}italic{\\i0}\\Nsecond line
`;

/** A PGS stream (.sup): two display sets of a presentation composition and its end segment. ffmpeg cannot encode PGS, but it muxes these packets. */
function pgsSup(): Buffer {
  const segment = (pts: number, type: number, data: Buffer) => {
    const header = Buffer.alloc(13);
    header.write('PG', 0, 'latin1');
    header.writeUInt32BE(pts, 2);
    header.writeUInt32BE(0, 6);
    header.writeUInt8(type, 10);
    header.writeUInt16BE(data.length, 11);
    return Buffer.concat([header, data]);
  };
  const composition = (number: number, state: number) => {
    const pcs = Buffer.alloc(11);
    pcs.writeUInt16BE(320, 0);
    pcs.writeUInt16BE(180, 2);
    pcs.writeUInt8(0x10, 4);
    pcs.writeUInt16BE(number, 5);
    pcs.writeUInt8(state, 7);
    return pcs;
  };
  return Buffer.concat([
    segment(90_000, 0x16, composition(0, 0x80)),
    segment(90_000, 0x80, Buffer.alloc(0)),
    segment(180_000, 0x16, composition(1, 0)),
    segment(180_000, 0x80, Buffer.alloc(0)),
  ]);
}

let origin: TestServer;
let media: string;
let pages: Awaited<ReturnType<typeof servePlayerPages>>;
let browser: Browser;
const hashes: Record<string, string> = {};

const ffmpeg = (args: string[]) => exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { cwd: media });

beforeAll(async () => {
  media = await mkdtemp(path.join(os.tmpdir(), 'jitseg-subtitles-'));
  await Promise.all([
    writeFile(path.join(media, 'eng.srt'), srt('eng')),
    writeFile(path.join(media, 'fre.srt'), srt('fre')),
    writeFile(path.join(media, 'styled.ass'), ASS),
    writeFile(path.join(media, 'pgs.sup'), pgsSup()),
    writeFile(path.join(media, 'side.en.srt'), srt('side')),
    writeFile(path.join(media, 'late.srt'), srt('late', LATE_SECONDS)),
    writeFile(path.join(media, 'webm-cues.vtt'), 'WEBVTT\n\n00:00:00.400 --> 00:00:02.100\nFirst <b>webm</b> cue\n'),
  ]);
  await ffmpeg([
    '-f', 'lavfi', '-i', `testsrc2=size=320x180:rate=25:duration=${SECONDS}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-pix_fmt', 'yuv420p', 'base.mp4',
  ]);
  await Promise.all([
    ffmpeg([
      '-i', 'base.mp4', '-i', 'eng.srt', '-i', 'fre.srt', '-i', 'styled.ass', '-i', 'pgs.sup', '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${SECONDS}`,
      '-map', '0:v', '-map', '1', '-map', '2', '-map', '3', '-map', '4', '-map', '5', '-c:v', 'copy', '-c:a', 'aac', '-b:a', '64k',
      '-c:s:0', 'srt', '-c:s:1', 'srt', '-c:s:2', 'ass', '-c:s:3', 'copy',
      '-metadata:s:s:0', 'language=eng', '-metadata:s:s:1', 'language=fre', '-metadata:s:s:2', 'title=Styled', '-metadata:s:s:3', 'language=eng',
      '-disposition:s:0', 'default', '-disposition:s:1', 'forced', '-disposition:s:2', '0', '-disposition:s:3', '0', 'film.mkv',
    ]),
    ffmpeg(['-i', 'base.mp4', '-i', 'eng.srt', '-map', '0:v', '-map', '1', '-c:v', 'copy', '-c:s', 'mov_text', '-metadata:s:s:0', 'language=eng', 'movtext.mp4']),
    ffmpeg(['-i', 'base.mp4', '-c', 'copy', 'side.mp4']),
    ffmpeg(['-itsoffset', String(LATE_SECONDS), '-i', 'base.mp4', '-i', 'late.srt', '-map', '0:v', '-map', '1', '-c:v', 'copy', '-c:s', 'srt', '-metadata:s:s:0', 'language=eng', 'late.mkv']),
    ffmpeg([
      '-f', 'lavfi', '-i', `testsrc2=size=320x180:rate=25:duration=${SECONDS}`, '-i', 'webm-cues.vtt', '-map', '0', '-map', '1',
      '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '300k', '-g', '50', '-c:s', 'webvtt', '-metadata:s:s:0', 'language=ger', 'web.webm',
    ]),
  ]);
  origin = await testServer(media, {
    ...NO_PREFETCH,
    segment_duration: 2,
    profiles: [{ name: '180p', width: 320, height: 180, bitrate: 300, quality: 30 }],
    encoder: encoderWith({ preset: 'ultrafast' }),
  });
  for (const file of ['film.mkv', 'movtext.mp4', 'side.mp4', 'web.webm', 'late.mkv']) {
    const response = await fetch(`${origin.url}/api/v1/content`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: file }) });
    hashes[file] = ((await response.json()) as { hash: string }).hash;
  }
  pages = await servePlayerPages();
  browser = await launchChromium();
}, 120_000);

afterAll(() => closePlayerRig({ browser, pages, origin, media }));

const info = async (file: string) => (await (await fetch(`${origin.url}/api/v1/content/${hashes[file]}/info`)).json()) as any;
const text = async (url: string) => {
  const response = await fetch(url);
  expect(response.status, url).toBe(200);
  return response.text();
};

describe('subtitle tracks in the manifests and /info', () => {
  it('the MKV: two SubRip (eng default, fre forced) and an ASS offered with their languages and flags; its PGS track reported, not offered', async () => {
    const { subtitles, subtitlesNotOffered } = await info('film.mkv');
    expect(subtitles.map((s: any) => [s.language, s.name, s.isDefault, s.isForced, s.source.codec])).toEqual([
      ['eng', 'English', true, false, 'subrip'],
      ['fre', 'French (forced)', false, true, 'subrip'],
      ['und', 'Styled', false, false, 'ass'],
    ]);
    expect(subtitlesNotOffered).toEqual([
      { index: 3, codec: 'hdmv_pgs_subtitle', language: 'eng', reason: expect.stringMatching(/^PGS subtitles are pictures/) },
    ]);

    const master = parseM3u8(await text(`${origin.url}/vod/film.mkv/master.m3u8`));
    const group = master.mediaGroups.SUBTITLES.subs;
    expect(Object.entries(group).map(([name, t]: [string, any]) => [name, t.language, t.default, t.forced, t.autoselect])).toEqual([
      ['English', 'en', true, false, true],
      ['French (forced)', 'fr', false, true, true],
      ['Styled', undefined, false, false, true],
    ]);
    expect(master.playlists.every((p: any) => p.attributes.SUBTITLES === 'subs')).toBe(true);

    const mpd = parseMpd(await text(`${origin.url}/vod/film.mkv/manifest.mpd`), { manifestUri: `${origin.url}/vod/film.mkv/manifest.mpd` });
    const dashText = Object.entries(mpd.mediaGroups.SUBTITLES.subs).map(([label, t]: [string, any]) => [label, t.language, t.playlists[0].resolvedUri]);
    expect(dashText).toEqual([
      ['English', 'en', `${origin.url}/api/v1/content/${hashes['film.mkv']}/subtitles/${subtitles[0].id}/track.vtt`],
      ['French (forced)', 'fr', `${origin.url}/api/v1/content/${hashes['film.mkv']}/subtitles/${subtitles[1].id}/track.vtt`],
      // mpd-parser's name for an AdaptationSet without @lang.
      ['Styled', 'und', `${origin.url}/api/v1/content/${hashes['film.mkv']}/subtitles/${subtitles[2].id}/track.vtt`],
    ]);
  });

  it('the MP4 offers its mov_text track and the plain video its sidecar .en.srt', async () => {
    const movtext = await info('movtext.mp4');
    expect(movtext.subtitles.map((s: any) => [s.language, s.source.kind, s.source.codec])).toEqual([['eng', 'stream', 'mov_text']]);
    const side = await info('side.mp4');
    expect(side.subtitles.map((s: any) => [s.language, s.name, s.source.kind, s.source.file])).toEqual([['en', 'English', 'sidecar', 'side.en.srt']]);
    for (const file of ['movtext.mp4', 'side.mp4']) {
      const master = parseM3u8(await text(`${origin.url}/vod/${file}/master.m3u8`));
      expect(Object.values(master.mediaGroups.SUBTITLES.subs).map((t: any) => t.language)).toEqual(['en']);
      expect(await text(`${origin.url}/vod/${file}/manifest.mpd`)).toMatch(/<AdaptationSet id="\d+" contentType="text" mimeType="text\/vtt" lang="en">/);
    }
  });

  it('a video that starts late: HLS segments keep source times, the DASH file is on the presentation timeline', async () => {
    const late = await info('late.mkv');
    expect(late.segmentDurations).toEqual([2, 2, 2, 2]);
    const base = `${origin.url}/api/v1/content/${hashes['late.mkv']}/subtitles/${late.subtitles[0].id}`;
    expect(await text(`${base}/segment_1.vtt`)).toContain('00:00:01.900 --> 00:00:03.100\nFirst line late');
    expect(await text(`${base}/track.vtt`)).toContain('00:00:00.400 --> 00:00:01.600\nFirst line late');
  });

  it('a WebM offers its WebVTT track, cut like the others', async () => {
    const web = await info('web.webm');
    expect(web.subtitles.map((s: any) => [s.language, s.name, s.source.codec])).toEqual([['ger', 'German', 'webvtt']]);
    const master = parseM3u8(await text(`${origin.url}/vod/web.webm/master.m3u8`));
    expect(Object.values(master.mediaGroups.SUBTITLES.subs).map((t: any) => t.language)).toEqual(['de']);
    const base = `${origin.url}/api/v1/content/${hashes['web.webm']}/subtitles/${web.subtitles[0].id}`;
    const cue = '00:00:00.400 --> 00:00:02.100\nFirst <b>webm</b> cue\n';
    expect(await text(`${base}/segment_1.vtt`)).toContain(cue);
    expect(await text(`${base}/segment_2.vtt`)).toContain(cue);
    expect(await text(`${base}/segment_3.vtt`)).not.toContain('webm');
  });
});

describe('WebVTT segments', () => {
  it('follow the video cuts, map source time 0 to the +10 s fMP4 timeline, repeat a cue that spans a cut, and are kept in the store', async () => {
    const { subtitles, segments } = await info('film.mkv');
    const base = `${origin.url}/api/v1/content/${hashes['film.mkv']}/subtitles/${subtitles[0].id}`;
    const playlist = parseM3u8(await text(`${base}/playlist.m3u8`));
    expect(playlist.segments.map((s: any) => [s.uri, s.duration])).toEqual(Array.from({ length: segments }, (_, i) => [`segment_${i + 1}.vtt`, 2]));
    const bodies = await Promise.all(playlist.segments.map((s: any) => text(`${base}/${s.uri}`)));
    for (const body of bodies) expect(body.startsWith('WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n')).toBe(true);
    // The AAC encoder's priming made ffmpeg's muxer move every stream of the MKV 21 ms later (1024 samples at
    // 48 kHz on a millisecond clock): the video starts there, and the cues are 21 ms later than written. Segments
    // keep those source times; players show them at the written times (the player tests).
    const { streams } = await ffprobeJson(['-show_entries', 'stream=codec_type,start_time', path.join(media, 'film.mkv')]);
    const videoStartMs = Math.round(Number(streams.find((s: any) => s.codec_type === 'video').start_time) * 1000);
    expect(videoStartMs).toBe(21);
    const at = (seconds: number) => formatTime(Math.round(seconds * 1000) + videoStartMs);
    const cue = (i: number) => `${at(cues('eng')[i]!.start)} ${at(cues('eng')[i]!.end)} ${cues('eng')[i]!.text}`;
    const timings = bodies.map((body) => [...body.matchAll(/^(\S+) --> (\S+)\n(.*)$/gm)].map((m) => `${m[1]} ${m[2]} ${m[3]}`));
    expect(timings).toEqual([[cue(0), cue(1)], [cue(1)], [cue(2)], [cue(2)]]);
    await access(path.join(origin.cacheDir, hashes['film.mkv']!, `subtitles-${subtitles[0].id}.vtt`));
  });

  it('ASS styling comes out as what WebVTT carries (bold, italic, line break; positioning dropped)', async () => {
    const { subtitles } = await info('film.mkv');
    const whole = await text(`${origin.url}/api/v1/content/${hashes['film.mkv']}/subtitles/${subtitles[2].id}/track.vtt`);
    expect(whole).toBe('WEBVTT\n\n00:00:01.000 --> 00:00:03.500\n<b>Bold</b> and <i>italic</i>\nsecond line\n');
  });
});

describe('a sidecar swapped for a symlink', () => {
  it('after its track was listed is not followed: 404, and the file it points to is never served', async () => {
    const secret = `${media}-secret.srt`;
    await writeFile(secret, '1\n00:00:00,000 --> 00:00:05,000\nSECRET\n');
    await ffmpeg(['-i', 'base.mp4', '-c', 'copy', 'swap.mp4']);
    await writeFile(path.join(media, 'swap.en.srt'), srt('swap'));
    try {
      const registered = await fetch(`${origin.url}/api/v1/content`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: 'swap.mp4' }) });
      const hash = ((await registered.json()) as { hash: string }).hash;
      const { subtitles } = (await (await fetch(`${origin.url}/api/v1/content/${hash}/info`)).json()) as any;
      expect(subtitles.map((t: any) => t.source.file)).toEqual(['swap.en.srt']);
      await rm(path.join(media, 'swap.en.srt'));
      await symlink(secret, path.join(media, 'swap.en.srt'));
      for (const file of ['segment_1.vtt', 'track.vtt']) {
        const response = await fetch(`${origin.url}/api/v1/content/${hash}/subtitles/${subtitles[0].id}/${file}`);
        expect(response.status).toBe(404);
        expect(await response.text()).not.toContain('SECRET');
      }
    } finally {
      await rm(secret, { force: true });
    }
  });
});

describe('the web UI', () => {
  it('lists the subtitle tracks in its player and shows the one picked', async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${origin.url}/#/play/${hashes['film.mkv']}`);
      await page.waitForFunction(() => document.querySelectorAll('#subtitle-track option').length === 4, undefined, { timeout: 30_000 });
      expect(await page.$$eval('#subtitle-track option', (options) => options.map((o) => o.textContent))).toEqual(['Off', 'English', 'French (forced)', 'Styled']);
      await page.selectOption('#subtitle-track', { label: 'French (forced)' });
      await page.evaluate(() => {
        const { video } = (window as any).__player;
        video.pause();
        video.currentTime = 1;
      });
      // Hang guard only: the player loads the French segment on its own time.
      await page.waitForFunction(
        () => [...document.querySelector('video')!.textTracks].some((t) => t.mode === 'showing' && t.language === 'fr' && [...(t.activeCues ?? [])].some((c: any) => c.text === 'First line fre')),
        undefined,
        { timeout: 30_000 },
      );
    } finally {
      await page.close();
    }
  }, 60_000);
});

describe('through the edge', () => {
  it('WebVTT files are cached as immutable; playlists pass as manifests', async () => {
    const { createEdgeApp } = await import('../edge/src/edge.js');
    const { MemoryEdgeCache } = await import('../edge/src/cache.js');
    const { app } = createEdgeApp({ origins: [origin.url], cache: new MemoryEdgeCache(), prefetch: 0 });
    const { subtitles } = await info('film.mkv');
    const base = `http://edge.test/api/v1/content/${hashes['film.mkv']}/subtitles/${subtitles[0].id}`;
    for (const file of ['segment_2.vtt', 'track.vtt']) {
      const first = await app.fetch(new Request(`${base}/${file}`));
      const second = await app.fetch(new Request(`${base}/${file}`));
      expect([first.status, first.headers.get('x-cache'), second.status, second.headers.get('x-cache')]).toEqual([200, 'MISS', 200, 'HIT']);
      expect(await second.text()).toBe(await first.text());
    }
    expect((await app.fetch(new Request(`${base}/playlist.m3u8`))).status).toBe(200);
  });
});

describe('with signed URLs', () => {
  it('subtitle playlists, segments and DASH files carry the signature of the manifest that named them; unsigned ones are refused', async () => {
    const admin = 'subtitles-admin-token-0123456789';
    const signed = await testServer(media, { ...NO_PREFETCH, segment_duration: 2 }, { signKey: 'subtitles-sign-key-0123456789', adminToken: admin });
    try {
      const sign = async (p: string) => {
        const response = await fetch(`${signed.url}/api/v1/sign`, { method: 'POST', headers: { authorization: `Bearer ${admin}` }, body: JSON.stringify({ path: p, ttl: 600 }) });
        return `${signed.url}${((await response.json()) as { url: string }).url}`;
      };
      const masterUrl = await sign('/vod/side.mp4/master.m3u8');
      const master = parseM3u8(await text(masterUrl));
      const playlistUrl = new URL((Object.values(master.mediaGroups.SUBTITLES.subs)[0] as any).uri, masterUrl);
      expect(playlistUrl.searchParams.get('sig')).toBeTruthy();
      const playlist = parseM3u8(await text(playlistUrl.href));
      expect(await text(new URL(playlist.segments[0].uri, playlistUrl).href)).toContain('First line side');
      playlistUrl.search = '';
      expect((await fetch(playlistUrl)).status).toBe(403);

      const mpdUrl = await sign('/vod/side.mp4/manifest.mpd');
      const mpd = parseMpd(await text(mpdUrl), { manifestUri: mpdUrl });
      const trackUrl = (Object.values(mpd.mediaGroups.SUBTITLES.subs)[0] as any).playlists[0].resolvedUri;
      expect(await text(trackUrl)).toContain('00:00:05.040 --> 00:00:06.400\nAfter the seek side');
    } finally {
      await signed.close();
      await rm(signed.cacheDir, { recursive: true, force: true });
    }
  });
});

type Player = 'hls' | 'dash' | 'shaka-dash' | 'shaka-hls';
const RUNS: { file: string; lang: string; label: string; players: Player[] }[] = [
  { file: 'film.mkv', lang: 'en', label: 'eng', players: ['hls', 'dash', 'shaka-dash', 'shaka-hls'] },
  { file: 'movtext.mp4', lang: 'en', label: 'eng', players: ['hls', 'dash', 'shaka-dash'] },
  { file: 'side.mp4', lang: 'en', label: 'side', players: ['hls', 'dash', 'shaka-dash'] },
  // Cues 1.5 s later on a video 1.5 s later: players show them at the same presentation times as the others'.
  { file: 'late.mkv', lang: 'en', label: 'late', players: ['hls', 'dash'] },
];

describe.concurrent.each(RUNS)('players show the cues of $file', ({ file, lang, label, players }) => {
  it.each(players)('%s', async (player) => {
    const manifest = player === 'dash' || player === 'shaka-dash' ? 'manifest.mpd' : 'master.m3u8';
    const kind = player.startsWith('shaka') ? 'shaka' : player;
    const page = await browser.newPage();
    try {
      await page.goto(`${pages.url}subtitles.html`);
      await page.evaluate(([k, url, l]) => (window as any).subs.start(k, url, l), [kind, `${origin.url}/vod/${file}/${manifest}`, lang] as const);
      for (const check of CHECKS) {
        const landed = await page.evaluate(([how, at]) => (how === 'seek' ? (window as any).subs.seek(at) : (window as any).subs.pauseAt(at)), [check.how, check.at] as const);
        const expected = cues(label)[check.cue]!;
        // A pause is asked on the first frame presented at or past `at`; the element's clock, read after the pause,
        // may be a frame or so behind that frame's time: what matters is that it is inside the cue (and past the cut).
        expect(landed).toBeGreaterThanOrEqual(check.from);
        expect(landed).toBeLessThan(expected.end);
        // The player loads the subtitle segment for a new position on its own time: wait for the cue to be shown (hang guard only).
        const deadline = Date.now() + 20_000;
        let state = await page.evaluate(() => (window as any).subs.state());
        while (state.active.length === 0 && state.errors.length === 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          state = await page.evaluate(() => (window as any).subs.state());
        }
        expect(state.errors).toEqual([]);
        expect(state.paused).toBe(true);
        expect(state.showing.map((t: any) => t.language)).toEqual([lang]);
        // The cue's own times, to the millisecond: a cue shifted by the timeline offset or a segment would not be active here.
        expect(state.active.map((c: any) => c.text)).toEqual([expected.text]);
        expect(Math.round(state.active[0].start * 1000)).toBe(Math.round(expected.start * 1000));
        expect(Math.round(state.active[0].end * 1000)).toBe(Math.round(expected.end * 1000));
      }
    } finally {
      await page.close();
    }
  }, 120_000);
});
