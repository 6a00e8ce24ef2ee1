/**
 * Seek thumbnails and posters (issue 15, part 2), end to end with the real
 * ffmpeg and Shaka Player in Debian's Chromium.
 *
 * The source makes a wrong picture obvious: every frame carries its own
 * number as a row of black/white blocks (each block 16×16 px in a 160-px
 * tile), and its colours turn with time. Its IDR keyframes are irregular, so
 * "the keyframe nearest the middle of the tile's stretch" is a real choice.
 * The test finds the keyframes itself (ffprobe) and extracts the frame it
 * expects with its own ffmpeg command, then compares pictures by PSNR: the
 * right frame must give ≥ 30 dB, and its neighbours one frame away must not
 * (so the comparison can tell frames apart).
 */
import { mkdir, mkdtemp, stat, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, servePlayerPages } from './support/browser.js';
import { exec, mediaFolder } from './support/media.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';
import { UrlSigner } from '../src/http/signing.js';

const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');
const FPS = 25;
const SECONDS = 12;
const T = 2;
const TILE = { width: 160, height: 90 };
const LAYOUT = { columns: 2, rows: 2 };
/** Frame numbers as blocks: 9 bits (up to 511), each block 64×64 source pixels. */
const CODE_BITS = 9;
const CODE_BLOCK = 64;
const KEYFRAMES = '0,0.8,1.5,2.6,3.32,5.9,7,8.4,10.88';

interface Cue {
  start: number;
  end: number;
  sheet: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

let server: TestServer;
let browser: Browser;
let pages: Awaited<ReturnType<typeof servePlayerPages>>;
let sourcePath: string;
let media: string;
let work: string;
let hash: string;
let base: string;
let info: any;
let cues: Cue[];
/** Presentation times of the source's keyframes, seconds, ascending. */
let keyframes: number[];

function frameCodeFilter(): string {
  const boxes = Array.from({ length: CODE_BITS }, (_, k) => `drawbox=x=${k * CODE_BLOCK}:y=0:w=${CODE_BLOCK}:h=${CODE_BLOCK}:color=white:t=fill:enable='mod(floor(n/${2 ** k}),2)'`);
  return [`drawbox=x=0:y=0:w=${CODE_BITS * CODE_BLOCK}:h=${CODE_BLOCK}:color=black:t=fill`, ...boxes].join(',');
}

function parseVtt(text: string): Cue[] {
  const stamp = (s: string) => s.split(':').reduce((sum, part) => sum * 60 + Number(part), 0);
  const lines = text.split('\n');
  const out: Cue[] = [];
  for (let i = 0; i < lines.length; i++) {
    const times = /^([\d:.]+) --> ([\d:.]+)$/.exec(lines[i]!);
    if (!times) continue;
    const target = /^(tile_\d+\.jpg)#xywh=(\d+),(\d+),(\d+),(\d+)$/.exec(lines[i + 1] ?? '');
    expect(target, `cue line after ${lines[i]}`).not.toBeNull();
    const [x, y, w, h] = target!.slice(2).map(Number) as [number, number, number, number];
    out.push({ start: stamp(times[1]!), end: stamp(times[2]!), sheet: target![1]!, x, y, w, h });
  }
  return out;
}

/** Raw RGB24 of one picture: an input (file), optionally a filter chain, scaled as the origin scales. */
async function rgb(input: string, filters: string): Promise<Buffer> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-i', input, '-vf', `${filters},format=rgb24`, '-frames:v', '1', '-f', 'rawvideo', 'pipe:1'], {
    encoding: 'buffer',
    maxBuffer: 1 << 26,
  });
  return stdout as unknown as Buffer;
}

/** Source frames by number, decoded by this test's own ffmpeg (one pass), scaled to `size` (area averaging, as a downscale should be). */
async function sourceFrames(numbers: number[], size: { width: number; height: number }): Promise<Map<number, Buffer>> {
  const wanted = [...new Set(numbers)].sort((a, b) => a - b);
  const filters = `select='${wanted.map((n) => `eq(n,${n})`).join('+')}',scale=${size.width}:${size.height}:flags=area,format=rgb24`;
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-i', sourcePath, '-vf', filters, '-fps_mode', 'passthrough', '-frames:v', String(wanted.length), '-f', 'rawvideo', 'pipe:1'], {
    encoding: 'buffer',
    maxBuffer: 1 << 26,
  });
  const bytes = size.width * size.height * 3;
  expect(stdout.length).toBe(wanted.length * bytes);
  return new Map(wanted.map((n, i) => [n, (stdout as unknown as Buffer).subarray(i * bytes, (i + 1) * bytes)]));
}

/** jitseg_images_made_total{kind} from /metrics. */
async function imagesMade(kind: 'sheet' | 'poster'): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(new RegExp(`^jitseg_images_made_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
}

function psnr(a: Buffer, b: Buffer): number {
  expect(a.length).toBe(b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  const mse = sum / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** The keyframe nearest `target` seconds (the earlier on a tie), as a frame number. */
function nearestKeyframe(target: number): number {
  let best = keyframes[0]!;
  for (const k of keyframes) if (Math.abs(k - target) < Math.abs(best - target) - 1e-9) best = k;
  return Math.round(best * FPS);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'jitseg-thumbs-'));
  sourcePath = path.join(work, 'numbered.mp4');
  await exec('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=${FPS}:duration=${SECONDS}`,
    '-vf', `hue=H=2*PI*t/7:s=1.5,${frameCodeFilter()}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '2', '-x264-params', 'keyint=300:min-keyint=300:scenecut=0',
    '-force_key_frames', KEYFRAMES, '-pix_fmt', 'yuv420p', sourcePath,
  ]);
  const probe = await exec('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', sourcePath]);
  keyframes = probe.stdout
    .trim()
    .split('\n')
    .filter((line) => line.split(',')[1]?.startsWith('K'))
    .map((line) => Number(line.split(',')[0]))
    .sort((a, b) => a - b);
  expect(keyframes.length).toBe(KEYFRAMES.split(',').length);
  media = await mediaFolder({ 'numbered.mp4': sourcePath });
  server = await testServer(media, {
    ...NO_PREFETCH,
    segment_duration: 2,
    profiles: [{ name: '180p', width: 320, height: 180, bitrate: 300, quality: 30 }],
    encoder: encoderWith({ preset: 'ultrafast' }),
    thumbnails: { enabled: true, interval_seconds: T, width: TILE.width, ...LAYOUT, poster_width: 320 },
  });
  const master = await (await fetch(`${server.url}/vod/numbered.mp4/master.m3u8`)).text();
  hash = /\/api\/v1\/content\/([0-9a-f]{64})\//.exec(master)![1]!;
  base = `${server.url}/api/v1/content/${hash}/`;
  info = await (await fetch(`${base}info`)).json();
  cues = parseVtt(await (await fetch(`${server.url}${info.thumbnails.vtt}`)).text());
  [browser, pages] = await Promise.all([launchChromium(), servePlayerPages()]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await server?.close();
});

describe('seek thumbnails', () => {
  it('index, MPD and HLS image playlist describe one track: a tile every 2 s, 2×2 per sheet', async () => {
    expect(info.thumbnails).toMatchObject({ intervalSeconds: T, ...TILE, layout: '2x2', count: 6 });
    expect(cues.map((c) => [c.start, c.end])).toEqual([[0, 2], [2, 4], [4, 6], [6, 8], [8, 10], [10, 12]]);
    expect(cues.map((c) => [c.sheet, c.x, c.y, c.w, c.h])).toEqual([
      ['tile_1.jpg', 0, 0, 160, 90], ['tile_1.jpg', 160, 0, 160, 90], ['tile_1.jpg', 0, 90, 160, 90], ['tile_1.jpg', 160, 90, 160, 90],
      ['tile_2.jpg', 0, 0, 160, 90], ['tile_2.jpg', 160, 0, 160, 90],
    ]);
    const master = await (await fetch(`${base}master.m3u8`)).text();
    const trackPath = info.thumbnails.playlist.slice(`/api/v1/content/${hash}/`.length);
    expect(master).toContain(`#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=`);
    expect(master).toMatch(new RegExp(`RESOLUTION=160x90,CODECS="jpeg",URI="${trackPath}"`));
    const playlist = await (await fetch(`${server.url}${info.thumbnails.playlist}`)).text();
    expect(playlist).toContain('#EXT-X-IMAGES-ONLY');
    expect(playlist.match(/#EXTINF:[\d.]+/g)).toEqual(['#EXTINF:8.000', '#EXTINF:4.000']);
    expect(playlist.match(/#EXT-X-TILES:.*/g)).toEqual(Array(2).fill('#EXT-X-TILES:RESOLUTION=160x90,LAYOUT=2x2,DURATION=2.000'));
    const mpd = await (await fetch(`${base}manifest.mpd`)).text();
    expect(mpd).toMatch(/<AdaptationSet id="\d+" contentType="image" mimeType="image\/jpeg">/);
    expect(mpd).toContain('<EssentialProperty schemeIdUri="http://dashif.org/thumbnail_tile" value="2x2"/>');
    // A sheet beyond the last is not there; neither is another config's track.
    expect((await fetch(`${base}thumbs/${info.thumbnails.playlist.split('/').at(-2)}/tile_3.jpg`)).status).toBe(404);
    expect((await fetch(`${base}thumbs/thumbs-160x90-0000000000/tile_1.jpg`)).status).toBe(404);
  });

  it('each tile is the keyframe nearest the middle of its stretch (PSNR ≥ 30 dB; its neighbour frames < 30 dB)', async () => {
    const trackUrl = `${server.url}${info.thumbnails.vtt.replace(/thumbnails\.vtt$/, '')}`;
    const sheets = new Map<string, string>();
    for (const name of ['tile_1.jpg', 'tile_2.jpg']) {
      const response = await fetch(trackUrl + name);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('image/jpeg');
      expect(response.headers.get('cache-control')).toContain('immutable');
      const file = path.join(work, name);
      await writeFile(file, Buffer.from(await response.arrayBuffer()));
      sheets.set(name, file);
      const size = await exec('ffprobe', ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', file]);
      expect(size.stdout.trim()).toBe('320,180');
    }
    const figures: string[] = [];
    const expected = cues.map((cue) => nearestKeyframe((cue.start + cue.end) / 2));
    const frames = await sourceFrames(expected.flatMap((n) => [n - 1, n, n + 1]), TILE);
    for (const [i, cue] of cues.entries()) {
      const tile = await rgb(sheets.get(cue.sheet)!, `crop=${cue.w}:${cue.h}:${cue.x}:${cue.y}`);
      const frame = expected[i]!;
      // Keyframes here are at most 2.6 s apart: the picture lies within a second and a half of its stretch.
      expect(frame / FPS).toBeGreaterThan(cue.start - 1.5);
      expect(frame / FPS).toBeLessThan(cue.end + 1.5);
      const right = psnr(tile, frames.get(frame)!);
      const before = psnr(tile, frames.get(frame - 1)!);
      const after = psnr(tile, frames.get(frame + 1)!);
      figures.push(`${cue.start}-${cue.end} s: frame ${frame} ${right.toFixed(1)} dB (neighbours ${before.toFixed(1)} / ${after.toFixed(1)})`);
      expect(right, figures.at(-1)).toBeGreaterThanOrEqual(30);
      expect(before, figures.at(-1)).toBeLessThan(30);
      expect(after, figures.at(-1)).toBeLessThan(30);
    }
    console.log(`thumbnail PSNR:\n${figures.join('\n')}`);
    // Cells past the last thumbnail are black (away from the 8×8 blocks they share with the tiles above them, where
    // JPEG rings: 90 rows is not a multiple of 8).
    const empty = await rgb(sheets.get('tile_2.jpg')!, 'crop=160:80:0:100');
    expect(Math.max(...empty)).toBeLessThan(8);
  });

  it('a sheet is kept in the store and served from it; a torn one is deleted and made again', async () => {
    const track = info.thumbnails.vtt.split('/').at(-2);
    const stored = path.join(server.cacheDir, hash, 'images', track, 'tile_1.jpg');
    const url = `${base}thumbs/${track}/tile_1.jpg`;
    const first = Buffer.from(await (await fetch(url)).arrayBuffer());
    const kept = await stat(stored);
    expect(kept.size).toBe(first.length);
    const again = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(again.equals(first)).toBe(true);
    expect((await stat(stored)).mtimeMs).toBe(kept.mtimeMs);
    expect(await imagesMade('sheet')).toBe(2);
    // Cut short, as a crash before the rename could never leave it but a disk or a person can.
    await truncate(stored, Math.floor(first.length / 2));
    const remade = Buffer.from(await (await fetch(url)).arrayBuffer());
    expect(remade.equals(first)).toBe(true);
    expect((await stat(stored)).size).toBe(first.length);
    expect(await imagesMade('sheet')).toBe(3);
  });

  it('the poster is the keyframe nearest a tenth of the way in, at the poster size', async () => {
    const response = await fetch(`${base}poster.jpg`);
    expect(response.status).toBe(200);
    const file = path.join(work, 'poster.jpg');
    await writeFile(file, Buffer.from(await response.arrayBuffer()));
    const poster = await rgb(file, 'null');
    expect(poster.length).toBe(320 * 180 * 3);
    const frame = nearestKeyframe(SECONDS / 10);
    // 1.2 s lies between the keyframes at 0.8 and 1.52 s: the later one is nearer.
    expect(frame).toBe(38);
    const frames = await sourceFrames([frame, frame + 1], { width: 320, height: 180 });
    expect(psnr(poster, frames.get(frame)!)).toBeGreaterThanOrEqual(30);
    expect(psnr(poster, frames.get(frame + 1)!)).toBeLessThan(30);
    expect(await imagesMade('poster')).toBe(1);
  });

  it('with signed URLs the index, the image playlist and the MPD hand their signature to every sheet', async () => {
    const key = 'thumbnail-test-signing-key';
    const signed = await testServer(media, { ...NO_PREFETCH, thumbnails: { enabled: true, interval_seconds: T, width: TILE.width, ...LAYOUT, poster_width: 320 } }, { signKey: key });
    try {
      const signer = new UrlSigner(key);
      const exp = Math.floor(Date.now() / 1000) + 600;
      const vod = '/vod/numbered.mp4/master.m3u8';
      expect((await fetch(`${signed.url}${vod}${await signer.query(UrlSigner.scopeOf(vod)!, exp)}`)).status).toBe(200);
      const query = await signer.query(UrlSigner.contentScope(hash), exp);
      const vttPath = info.thumbnails.vtt;
      expect((await fetch(`${signed.url}${vttPath}`)).status).toBe(403);
      const vtt = await (await fetch(`${signed.url}${vttPath}${query}`)).text();
      const uris = [...vtt.matchAll(/^(tile_\d\.jpg\?[^#]+)#xywh=/gm)].map((m) => m[1]!);
      expect(uris).toHaveLength(6);
      expect(new Set(uris)).toEqual(new Set([`tile_1.jpg${query}`, `tile_2.jpg${query}`]));
      const sheet = new URL(uris[0]!, `${signed.url}${vttPath}`).href;
      expect((await fetch(sheet.replace(/\?.*$/, ''))).status).toBe(403);
      const response = await fetch(sheet);
      expect([response.status, response.headers.get('content-type')]).toEqual([200, 'image/jpeg']);
      const playlist = await (await fetch(`${signed.url}${info.thumbnails.playlist}${query}`)).text();
      expect(playlist).toContain(`tile_2.jpg${query}\n`);
      const mpd = await (await fetch(`${base.replace(server.url, signed.url)}manifest.mpd${query}`)).text();
      expect(mpd).toContain(`tile_$Number$.jpg${query.replace('&', '&amp;')}"`);
    } finally {
      await signed.close();
    }
  });

  it('Shaka Player reads the track from the MPD, the HLS playlist and the WebVTT index: the tile for a time', async () => {
    const page = await browser.newPage();
    await page.goto(`${pages.url}?player=shaka`);
    const times = [0.3, 1.99, 2.0, 5.5, 7.9, 9.2, 11.7];
    const found = await shakaThumbnails(page, { mpd: `${base}manifest.mpd`, m3u8: `${base}master.m3u8`, vtt: `${server.url}${info.thumbnails.vtt}`, times });
    await page.close();
    expect(Object.keys(found).sort()).toEqual(['dash', 'hls', 'vtt']);
    for (const [source, list] of Object.entries(found)) {
      list.forEach((thumb, i) => {
        const t = times[i]!;
        const cue = cues.find((c) => t >= c.start && t < c.end)!;
        const where = `${source} at ${t} s`;
        expect(thumb, where).not.toBeNull();
        expect(new URL(thumb!.uri).pathname.split('/').at(-1), where).toBe(cue.sheet);
        expect([thumb!.positionX, thumb!.positionY, thumb!.width, thumb!.height], where).toEqual([cue.x, cue.y, cue.w, cue.h]);
        expect(thumb!.startTime, where).toBeCloseTo(cue.start, 6);
        expect(thumb!.duration, where).toBeCloseTo(T, 6);
      });
    }
  }, 60_000);

  it('the web UI shows posters in the library and a thumbnail over the seek bar on hover', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => {
      const img = document.querySelector('#library tr[data-path="numbered.mp4"] img.poster') as HTMLImageElement | null;
      return img !== null && img.complete && img.naturalWidth === 320;
    }, null, { timeout: 30_000 });
    await page.click('#library tr[data-path="numbered.mp4"] a');
    await page.waitForSelector('#seekbar');
    // Playing (so the screenshot shows the video, and nothing moves under the pointer any more).
    await page.waitForFunction(() => ((window as any).__player?.video.currentTime ?? 0) > 0.5, null, { timeout: 60_000 });
    const bar = (await page.$('#seekbar'))!.boundingBox();
    const box = (await bar)!;
    // Hover at 7.0 s: the cue [6, 8) → sheet 1, bottom-right tile.
    const t = 7;
    await page.mouse.move(box.x + (box.width * t) / SECONDS, box.y + box.height / 2);
    await page.waitForFunction(() => (document.getElementById('thumb-preview') as HTMLElement).dataset.loaded === '1', null, { timeout: 30_000 });
    const shown = await page.$eval('#thumb-preview', (e) => {
      const el = e as HTMLElement;
      const style = getComputedStyle(el);
      const { start, sheet, x, y } = el.dataset;
      return { hidden: el.hidden, start, sheet, x, y, width: style.width, height: style.height, position: style.backgroundPosition };
    });
    const cue = cues.find((c) => t >= c.start && t < c.end)!;
    expect(shown.hidden).toBe(false);
    expect(Number(shown.start)).toBe(cue.start);
    expect(new URL(shown.sheet!).pathname.split('/').at(-1)).toBe(cue.sheet);
    expect([shown.x, shown.y, shown.width, shown.height, shown.position]).toEqual([String(cue.x), String(cue.y), '160px', '90px', `-${cue.x}px -${cue.y}px`]);
    await mkdir(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'thumbnail-hover.png');
    await page.screenshot({ path: shot });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    await context.close();
  }, 60_000);
});

interface ShakaThumb {
  uri: string;
  positionX: number;
  positionY: number;
  width: number;
  height: number;
  startTime: number;
  duration: number;
}

/** Shaka's getThumbnails for each time: from the MPD's image track, from the HLS image playlist, and from the WebVTT index. */
function shakaThumbnails(page: Page, args: { mpd: string; m3u8: string; vtt: string; times: number[] }): Promise<Record<string, (ShakaThumb | null)[]>> {
  return page.evaluate(async ({ mpd, m3u8, vtt, times }) => {
    const shaka = (window as any).shaka;
    shaka.polyfill.installAll();
    const video = document.getElementById('video');
    const out: Record<string, unknown[]> = {};
    const read = async (player: any, trackId: number) => {
      const list = [];
      for (const t of times) {
        const th = await player.getThumbnails(trackId, t);
        list.push(th && { uri: th.uris[0], positionX: th.positionX, positionY: th.positionY, width: th.width, height: th.height, startTime: th.startTime, duration: th.duration });
      }
      return list;
    };
    for (const [name, url] of [['dash', mpd], ['hls', m3u8]] as const) {
      const player = new shaka.Player();
      await player.attach(video);
      await player.load(url);
      const tracks = player.getImageTracks();
      if (tracks.length !== 1) throw new Error(`${name}: ${tracks.length} image tracks`);
      out[name] = await read(player, tracks[0].id);
      if (name === 'dash') {
        const added = await player.addThumbnailsTrack(vtt, 'text/vtt');
        out.vtt = await read(player, added.id);
      }
      await player.destroy();
    }
    return out;
  }, args) as Promise<Record<string, (ShakaThumb | null)[]>>;
}
