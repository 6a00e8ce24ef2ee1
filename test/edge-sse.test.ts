/**
 * The edge in front of a real origin (admin token set, its own prefetch
 * off): the SSE event stream passes through for over seven times the edge's
 * origin timeout with the origin healthy throughout; admin calls pass with the token and are refused
 * without it; the origin sees who is asking (Authorization,
 * X-Playback-Session-Id, X-Forwarded-For with the viewer appended); and the
 * edge's own prefetches reach the origin marked, and are encoded as
 * prefetch.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeEdge, type NodeEdge } from '../edge/src/node.js';
import { defaultStreamingConfig } from '../src/config/config.js';
import { startServer, type RunningServer } from '../src/server.js';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue } from './support/metrics.js';

const ADMIN = 'edge-sse-admin-token-0123456789';
const auth = { Authorization: `Bearer ${ADMIN}` };
/**
 * The stream test's edge: far shorter than the stream (3 s, 7.5 times as long), so an edge that buffered or timed
 * out pass-through bodies fails within a second; long enough for the origin's SSE head next to a CPU hog (it answers
 * before any encode, with its first write). Only the ratio matters: the edge's default is 30 s, which would take a
 * 30 s+ stream to cross.
 */
const STREAM_ORIGIN_TIMEOUT_MS = 400;
/** Events sent, one every EVENT_INTERVAL_MS from when the stream opened. */
const STREAM_EVENTS = 31;
const EVENT_INTERVAL_MS = 100;
/** The edge for the other calls: a registration probes the source, which next to a CPU hog can take over 400 ms. */
const ORIGIN_TIMEOUT_MS = 3000;

let origin: RunningServer;
let edge: NodeEdge;
let streamEdge: NodeEdge;
/**
 * For the encodes: an edge that waits for the origin as long as an encode can take on a loaded machine (the short
 * timeout above is for the stream test; a cold segment next to a CPU hog takes longer than it).
 */
let patientEdge: NodeEdge;
/** The origin's log lines (debug: one per request, with the client it saw). */
const logLines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  const media = await mediaFolder({ 'clip.mp4': await testSource('small') });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
      done();
    },
  });
  const streaming = defaultStreamingConfig();
  origin = await startServer(
    {
      mediaDir: media,
      cacheDir: await mkdtemp(path.join(os.tmpdir(), 'jitseg-cache-')),
      port: 0,
      host: '127.0.0.1',
      adminToken: ADMIN,
      // Prefetch at normal CPU priority: this file is about who asks and how the asks are marked, not priority (next
      // to a CPU hog a nice-19 prefetch gets next to no CPU; test/preemption.test.ts covers that).
      streaming: { ...streaming, segment_duration: 2, prefetch: { ...streaming.prefetch, enabled: false }, encoder: { ...streaming.encoder, prefetch_nice: 0, degrade: { ...streaming.encoder.degrade, enabled: false } } },
    },
    { logger: pino({ level: 'debug' }, sink) },
  );
  // No periodic health checks: the origin's health below is what requests alone made of it.
  edge = await startNodeEdge({ origins: [origin.url], port: 0, prefetch: 2, originTimeoutMs: ORIGIN_TIMEOUT_MS, healthCheckSeconds: 3600 });
  streamEdge = await startNodeEdge({ origins: [origin.url], port: 0, prefetch: 2, originTimeoutMs: STREAM_ORIGIN_TIMEOUT_MS, healthCheckSeconds: 3600 });
  patientEdge = await startNodeEdge({ origins: [origin.url], port: 0, prefetch: 2, originTimeoutMs: 170_000, healthCheckSeconds: 3600 });
});
afterAll(async () => {
  await patientEdge?.close();
  await streamEdge?.close();
  await edge?.close();
  await origin?.close();
});

const healthy = (through: NodeEdge) => through.edge.pool.report().every((o) => o.healthy);
const originHealthy = () => healthy(edge);

describe('the edge in front of a real origin', () => {
  it(`streams SSE events through for ${((STREAM_EVENTS - 1) * EVENT_INTERVAL_MS) / STREAM_ORIGIN_TIMEOUT_MS}+ times the origin timeout, no 502, the origin healthy throughout`, async () => {
    const response = await fetch(`${streamEdge.url}/api/v1/events?type=ManifestUpdated&content=sse-probe`, { headers: auth });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const opened = Date.now();
    let sent = 0;
    const emitter = setInterval(() => {
      sent++;
      origin.events.emit({ type: 'ManifestUpdated', content: 'sse-probe', manifest: 'hls', segments: sent });
      if (sent === STREAM_EVENTS) clearInterval(emitter);
    }, EVENT_INTERVAL_MS);
    const received: number[] = [];
    const healthWhileStreaming: boolean[] = [];
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      while (received.length < STREAM_EVENTS) {
        const { done, value } = await reader.read();
        expect(done, `the stream ended after ${received.length} events`).toBe(false);
        buffered += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (data) {
            received.push(JSON.parse(data).segments);
            healthWhileStreaming.push(healthy(streamEdge));
          }
        }
      }
    } finally {
      clearInterval(emitter);
      await reader.cancel();
    }
    expect(received).toEqual(Array.from({ length: STREAM_EVENTS }, (_, i) => i + 1));
    // The events were sent EVENT_INTERVAL_MS apart from the moment the stream opened: it stayed open that long, well past the timeout.
    expect(Date.now() - opened).toBeGreaterThanOrEqual((STREAM_EVENTS - 1) * EVENT_INTERVAL_MS);
    expect((STREAM_EVENTS - 1) * EVENT_INTERVAL_MS).toBeGreaterThan(7 * STREAM_ORIGIN_TIMEOUT_MS);
    expect(healthWhileStreaming.every(Boolean)).toBe(true);
    const health = await (await fetch(`${streamEdge.url}/edge/healthz`)).json();
    expect(health.origins).toEqual([expect.objectContaining({ url: origin.url, healthy: true })]);
  });

  it('passes admin calls with the token (Authorization forwarded) and refuses them without', async () => {
    const system = await fetch(`${edge.url}/api/v1/system`, { headers: auth });
    expect(system.status).toBe(200);
    expect(await system.json()).toHaveProperty('workers');
    expect((await fetch(`${edge.url}/api/v1/system`)).status).toBe(403);
    expect((await fetch(`${edge.url}/api/v1/system`, { headers: { Authorization: 'Bearer wrong-token-0123456789abc' } })).status).toBe(403);
    const registered = await fetch(`${edge.url}/api/v1/content`, { method: 'POST', headers: auth, body: JSON.stringify({ path: 'clip.mp4' }) });
    expect(registered.status).toBe(201);
    expect((await fetch(`${edge.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).status).toBe(403);
    expect(originHealthy()).toBe(true);
  });

  it('forwards the viewer (session id, X-Forwarded-For + the viewer) and marks its prefetches, which the origin encodes as prefetch', async () => {
    const { hash } = await (await fetch(`${origin.url}/api/v1/content`, { method: 'POST', headers: auth, body: JSON.stringify({ path: 'clip.mp4' }) })).json();
    const info = await (await fetch(`${origin.url}/api/v1/content/${hash}/info`)).json();
    const segment = (n: number) => `/api/v1/content/${hash}/video/${info.renditions[0].id}/segment_${n}.m4s`;
    const metricsBefore = await (await fetch(`${origin.url}/metrics`, { headers: auth })).text();

    const first = await fetch(`${patientEdge.url}${segment(1)}`, { headers: { 'X-Playback-Session-Id': 'viewer-7', 'X-Forwarded-For': '203.0.113.9', 'User-Agent': 'edge-test-player' } });
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    const seen = logLines.find((l) => l.path === segment(1) && l.msg === 'request');
    expect(seen).toMatchObject({ client: 'session:viewer-7', forwardedFor: '203.0.113.9, 127.0.0.1' });

    // Prefetch warms segments 2 and 3 in the background: wait until the edge holds them.
    const cached = async (...numbers: number[]) => (await Promise.all(numbers.map((n) => patientEdge.edge.cache.has(segment(n))))).every(Boolean);
    for (let i = 0; i < 1200 && !(await cached(2, 3)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await cached(2, 3)).toBe(true);
    expect(logLines.filter((l) => (l.path === segment(2) || l.path === segment(3)) && l.msg === 'request')).toHaveLength(2);

    // Another viewer, no session id: the origin knows it by the forwarded address and its user agent.
    const other = await fetch(`${patientEdge.url}/api/v1/content/${hash}/info`, { headers: { 'X-Forwarded-For': '198.51.100.4', 'User-Agent': 'edge-test-player' } });
    expect(other.status).toBe(200);
    await other.arrayBuffer();
    expect(logLines.find((l) => l.path === `/api/v1/content/${hash}/info` && l.forwardedFor)).toMatchObject({ client: '198.51.100.4|edge-test-player', forwardedFor: '198.51.100.4, 127.0.0.1' });

    // Segment 3 is an edge hit; it warms segment 4 (the clip's last).
    const hit = await fetch(`${patientEdge.url}${segment(3)}`, { headers: { 'X-Playback-Session-Id': 'viewer-7' } });
    expect(hit.headers.get('x-cache')).toBe('HIT');
    await hit.arrayBuffer();
    for (let i = 0; i < 1200 && !(await cached(4)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await cached(4)).toBe(true);

    // At the origin: the viewer's one cold segment (its segment 1: a start) was encoded for the player, the edge's three warm-ups as prefetch.
    const metricsAfter = await (await fetch(`${origin.url}/metrics`, { headers: auth })).text();
    const encoded = (reason: string) => metricValue(metricsAfter, 'jitseg_transcodes_total', { kind: 'video', reason }) - metricValue(metricsBefore, 'jitseg_transcodes_total', { kind: 'video', reason });
    expect(info.segments).toBe(4);
    expect(encoded('start')).toBe(1);
    expect(encoded('request')).toBe(0);
    expect(encoded('prefetch')).toBe(3);
  });
});
