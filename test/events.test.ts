/**
 * Events and sessions: a segment encode shows on the SSE stream as
 * TranscodeCompleted and SegmentReady (with ProgressUpdate while it runs), a
 * failing encode as TranscodeFailed; sessions go through their lifecycle;
 * the logs endpoint returns ffmpeg's output; /metrics has the named series.
 * Each test starts its own server on its own cache dir.
 */
import { copyFile, truncate } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

/** Made once and never written: each test starts its own server (own cache dir) on it. */
let media: string;
const servers: TestServer[] = [];

beforeAll(async () => {
  const small = await testSource('small');
  media = await mediaFolder({ 'clip.mp4': small });
  await copyFile(small, path.join(media, 'truncated.mp4'));
  await truncate(path.join(media, 'truncated.mp4'), 40_000);
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function freshServer(): Promise<TestServer> {
  const server = await testServer(media, { ...NO_PREFETCH, segment_duration: 4, encoder: encoderWith({ preset: 'ultrafast' }) });
  servers.push(server);
  return server;
}

/** Reads an SSE stream until `until` returns true for the events so far (or the stream ends). */
async function collectEvents(url: string, run: () => Promise<void>, until: (events: Array<{ event: string; data: any }>) => boolean) {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
  const reader = response.body!.getReader();
  const events: Array<{ event: string; data: any }> = [];
  let buffer = '';
  let comments = 0;
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += Buffer.from(value).toString('utf8');
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith(':')) comments++;
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
      if (until(events)) return;
    }
  })();
  await run();
  // No deadline of its own: events that never come fail the test at its timeout, whatever the machine's speed.
  await reading;
  controller.abort();
  return { events, comments };
}

async function register(server: TestServer, file: string) {
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json();
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  return { hash: registered.hash as string, info, video: `${server.url}/api/v1/content/${registered.hash}/video/${info.renditions[0].id}` };
}

/** The video session's id of a registered content. */
const videoSession = (r: Awaited<ReturnType<typeof register>>) => `${r.hash.slice(0, 16)}-video-${r.info.renditions[0].id}`;

describe('the event stream', () => {
  it('shows an encode as ProgressUpdate…, TranscodeCompleted and SegmentReady; manifests as ManifestUpdated', async () => {
    const server = await freshServer();
    const { hash, video } = await register(server, 'clip.mp4');
    const { events, comments } = await collectEvents(
      `${server.url}/api/v1/events?content=${hash}`,
      async () => {
        expect((await fetch(`${server.url}/api/v1/content/${hash}/master.m3u8`)).status).toBe(200);
        expect((await fetch(`${video}/segment_2.m4s`)).status).toBe(200);
      },
      (events) => events.some((e) => e.event === 'SegmentReady'),
    );
    expect(comments).toBeGreaterThanOrEqual(1);
    const types = events.map((e) => e.event);
    expect(types).toContain('ManifestUpdated');
    const completed = events.find((e) => e.event === 'TranscodeCompleted')!.data;
    expect(completed).toMatchObject({ type: 'TranscodeCompleted', content: hash, kind: 'video', segment: 2, encoder: 'libx264' });
    expect(completed.speed).toBeGreaterThan(0);
    const ready = events.find((e) => e.event === 'SegmentReady')!.data;
    expect(ready).toMatchObject({ content: hash, segment: 2, source: 'encoded' });
    expect(types.indexOf('TranscodeCompleted')).toBeLessThan(types.indexOf('SegmentReady'));
  });

  it('filters by type, and shows a failing encode as TranscodeFailed', async () => {
    const server = await freshServer();
    const { hash, info, video } = await register(server, 'truncated.mp4');
    const { events } = await collectEvents(
      `${server.url}/api/v1/events?type=TranscodeFailed`,
      async () => {
        expect((await fetch(`${video}/segment_${info.segments}.m4s`)).status).toBe(502);
      },
      (events) => events.length > 0,
    );
    expect(events.map((e) => e.event)).toEqual(['TranscodeFailed']);
    expect(events[0]!.data).toMatchObject({ content: hash, segment: info.segments, attempts: 3 });
    expect((await fetch(`${server.url}/api/v1/events?type=Nonsense`)).status).toBe(400);
  });
});

describe('sessions', () => {
  it('go Running → Stored as segments are made, with health and logs', async () => {
    const server = await freshServer();
    const clip = await register(server, 'clip.mp4');
    const id = videoSession(clip);
    const status = async () => (await (await fetch(`${server.url}/api/v1/sessions/${id}/status`)).json()).state;
    // No session before anything of the rendition is asked for.
    expect((await fetch(`${server.url}/api/v1/sessions/${id}/status`)).status).toBe(404);
    expect((await fetch(`${clip.video}/segment_2.m4s`)).status).toBe(200);
    expect(await status()).toBe('Running');
    for (let n = 1; n <= clip.info.segments; n++) expect((await fetch(`${clip.video}/segment_${n}.m4s`)).status).toBe(200);
    expect(await status()).toBe('Stored');
    const health = await (await fetch(`${server.url}/api/v1/sessions/${id}/health`)).json();
    expect(health).toMatchObject({ segmentsReady: clip.info.segments, segmentsTotal: clip.info.segments, errors: 0 });
    expect(health.encodeRate).toBeGreaterThan(0);
    expect(health.recentSegments.length).toBeGreaterThan(0);
    const logs = await (await fetch(`${server.url}/api/v1/sessions/${id}/logs`)).text();
    expect(logs).toMatch(/--- segment 1/);
    const list = (await (await fetch(`${server.url}/api/v1/sessions`)).json()).sessions.map((s: { id: string }) => s.id);
    expect(list).toEqual([id]);
    expect((await fetch(`${server.url}/api/v1/sessions/nope/status`)).status).toBe(404);
    // The audio rendition was never asked for: it has no session.
    expect((await fetch(`${server.url}/api/v1/sessions/${clip.hash.slice(0, 16)}-audio-${clip.info.audio[0].id}/status`)).status).toBe(404);
  });

  it('go Failed when an encode fails after its tries, with the tool output of each try', async () => {
    const server = await freshServer();
    const failing = await register(server, 'truncated.mp4');
    const id = videoSession(failing);
    expect((await fetch(`${failing.video}/segment_${failing.info.segments}.m4s`)).status).toBe(502);
    const status = await (await fetch(`${server.url}/api/v1/sessions/${id}/status`)).json();
    expect(status.state).toBe('Failed');
    const health = await (await fetch(`${server.url}/api/v1/sessions/${id}/health`)).json();
    expect(health.errors).toBe(1);
    expect(health.lastError).toEqual(expect.any(String));
    const logs = await (await fetch(`${server.url}/api/v1/sessions/${id}/logs`)).text();
    expect(logs).toMatch(/attempt 3/);
  });

  it('/metrics exposes the named series', async () => {
    const server = await freshServer();
    const clip = await register(server, 'clip.mp4');
    // One cold answer (encoded) and one warm (the same segment again).
    for (let i = 0; i < 2; i++) expect((await fetch(`${clip.video}/segment_1.m4s`)).status).toBe(200);
    const metrics = await scrape(server.url);
    for (const name of ['jitseg_transcodes_total', 'jitseg_cache_hits_total', 'jitseg_cache_misses_total', 'jitseg_cache_bytes', 'jitseg_cache_evictions_total', 'jitseg_queue_depth']) {
      expect(metrics).toContain(`# TYPE ${name}`);
    }
    expect(metricValue(metrics, 'jitseg_transcodes_total')).toBeGreaterThan(0);
    // Latency histograms for cold and warm answers, the encode rate, the hit ratio, CPU and memory.
    expect(metricValue(metrics, 'jitseg_segment_latency_seconds_count', { path: 'cold' })).toBe(1);
    expect(metricValue(metrics, 'jitseg_segment_latency_seconds_count', { path: 'warm' })).toBe(1);
    expect(metricValue(metrics, 'jitseg_encode_rate')).toBeGreaterThan(0);
    expect(metricValue(metrics, 'jitseg_cache_hit_ratio')).toBe(0.5);
    expect(metricValue(metrics, 'jitseg_process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metrics).toContain('jitseg_process_cpu_user_seconds_total');
  });

  it('/api/v1/health gives the dashboard numbers and alerts', async () => {
    const server = await freshServer();
    const healthy = await (await fetch(`${server.url}/api/v1/health`)).json();
    expect(healthy).toMatchObject({ status: 'ok', alerts: [], sessions: { total: 0, failed: 0 } });
    const clip = await register(server, 'clip.mp4');
    const failing = await register(server, 'truncated.mp4');
    expect((await fetch(`${clip.video}/segment_1.m4s`)).status).toBe(200);
    expect((await fetch(`${failing.video}/segment_${failing.info.segments}.m4s`)).status).toBe(502);
    const health = await (await fetch(`${server.url}/api/v1/health`)).json();
    expect(health.status).toBe('degraded'); // the truncated file's session failed
    expect(health.alerts).toEqual(expect.arrayContaining([expect.stringMatching(/1 session\(s\) failed/)]));
    expect(health.encodeRate).toBeGreaterThan(0);
    expect(health.process.rssBytes).toBeGreaterThan(0);
    expect(health.sessions).toEqual({ total: 2, failed: 1 });
  });
});

describe('structured logs', () => {
  it('are JSON lines carrying the request id through the request and the encode it caused', async () => {
    const { pino } = await import('pino');
    const { startServer } = await import('../src/server.js');
    const { defaultStreamingConfig } = await import('../src/config/config.js');
    const { mkdtemp } = await import('node:fs/promises');
    const os = await import('node:os');
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const media = await mediaFolder({ 'clip.mp4': await testSource('small') });
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-logs-'));
    const logged = await startServer({ mediaDir: media, cacheDir, port: 0, host: '127.0.0.1', streaming: { ...defaultStreamingConfig(), ...NO_PREFETCH } }, { logger });
    try {
      const registered = await (await fetch(`${logged.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
      const info = await (await fetch(`${logged.url}${registered.urls.info}`)).json();
      const response = await fetch(`${logged.url}/api/v1/content/${registered.hash}/video/${info.renditions[0].id}/segment_1.m4s`, { headers: { 'X-Request-Id': 'req-42' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-request-id')).toBe('req-42');
      const mine = lines.filter((l) => l.requestId === 'req-42');
      expect(mine.map((l) => l.msg)).toEqual(expect.arrayContaining(['segment made', 'request']));
      expect(mine.find((l) => l.msg === 'segment made')).toMatchObject({ content: registered.hash, kind: 'video', segment: 1 });
      const other = await fetch(`${logged.url}/healthz`);
      expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await logged.close();
    }
  });
});
