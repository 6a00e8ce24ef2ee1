/**
 * The web UI in Debian's Chromium (playwright-core): the library lists the
 * media, the player page plays (currentTime advances) and switches audio
 * track on a two-language source, and the dashboard shows live numbers that
 * change while a stream plays. The dashboard's screenshot is kept in
 * test-artifacts/dashboard.png.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.js';
import { exec, mediaFolder, testSource } from './support/media.js';
import { encoderWith, testServer, type TestServer } from './support/server.js';

const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');

let server: TestServer;
let browser: Browser;

beforeAll(async () => {
  const media = await mediaFolder({ 'demo.mp4': await testSource('small') });
  // 20 s with two audio tracks in two languages.
  await exec('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25:duration=20',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=20', '-f', 'lavfi', '-i', 'sine=frequency=880:sample_rate=48000:duration=20',
    '-map', '0', '-map', '1', '-map', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-pix_fmt', 'yuv420p', '-c:a', 'aac',
    '-metadata:s:a:0', 'language=eng', '-metadata:s:a:1', 'language=fra', path.join(media, 'multi.mp4'),
  ]);
  server = await testServer(media, {
    segment_duration: 2,
    profiles: [
      { name: '360p', width: 640, height: 360, bitrate: 900, quality: 26 },
      { name: '240p', width: 426, height: 240, bitrate: 400, quality: 28 },
    ],
    encoder: encoderWith({ preset: 'ultrafast' }),
  });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('the web UI', () => {
  it('lists the library, plays with an audio-track switch, and shows a live dashboard', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const library = await context.newPage();
    await library.goto(`${server.url}/`);
    await library.waitForSelector('#library tr[data-path="multi.mp4"]');
    const rows = await library.$$eval('#library tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(rows.map((r) => r[0])).toEqual(['demo.mp4', 'multi.mp4']);
    const multi = rows.find((r) => r[0] === 'multi.mp4')!;
    expect(multi[1]).toBe('0:20');
    expect(multi[2]).toBe('640×360');
    expect(multi[3]).toMatch(/English.*French|eng.*fra/i);

    const dashboard = await context.newPage();
    await dashboard.goto(`${server.url}/#/dashboard`);
    await dashboard.waitForSelector('#segments-ready');
    const readyAtStart = Number(await dashboard.$eval('#segments-ready', (e) => (e as HTMLElement).dataset.raw ?? '0'));

    await library.click('#library tr[data-path="multi.mp4"] a');
    await library.waitForFunction(() => ((window as any).__player?.video.currentTime ?? 0) > 1, null, { timeout: 60_000 });
    await library.waitForFunction(() => (window as any).__player.hls.audioTracks.length === 2, null, { timeout: 30_000 });
    await library.selectOption('#audio-track', '1');
    await library.waitForFunction(() => (window as any).__player.hls.audioTrack === 1, null, { timeout: 30_000 });
    const before = await library.evaluate(() => (window as any).__player.video.currentTime as number);
    await library.waitForFunction((t) => (window as any).__player.video.currentTime > t + 1.5, before, { timeout: 30_000 });
    const errors = await library.$eval('#player-status', (e) => e.textContent ?? '');
    expect(errors).not.toMatch(/error/);

    // The dashboard moved while the stream played: segments made, the player's buffer, the cache.
    await dashboard.waitForFunction((start) => Number((document.getElementById('segments-ready') as HTMLElement).dataset.raw) > start, readyAtStart, { timeout: 30_000 });
    await dashboard.waitForFunction(() => Number((document.getElementById('player-buffer') as HTMLElement).dataset.raw) > 0, null, { timeout: 30_000 });
    await dashboard.waitForFunction(() => Number((document.getElementById('cache-bytes') as HTMLElement).dataset.raw) > 0, null, { timeout: 30_000 });
    expect(await dashboard.$$eval('#events div', (divs) => divs.length)).toBeGreaterThan(0);
    await mkdir(ARTIFACTS, { recursive: true });
    const shot = path.join(ARTIFACTS, 'dashboard.png');
    await dashboard.screenshot({ path: shot, fullPage: true });
    expect((await stat(shot)).size).toBeGreaterThan(10_000);
    await context.close();
  });
});
