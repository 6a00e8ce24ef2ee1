/**
 * A player whose segment the edge is already prefetching is not parked on
 * that prefetch: the origin queues the edge's prefetch as prefetch (low CPU
 * priority, no max-wait deadline), so the player's own request must reach
 * the origin unmarked, where it joins the encode and raises it. The origin
 * here is a stand-in that records what it is asked and holds the prefetch
 * until the test lets it go, so the order is the test's, not the machine's.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNodeEdge, type NodeEdge } from '../edge/src/node.js';

const HASH = 'a'.repeat(64);
const BASE = `/api/v1/content/${HASH}/video/360p-x`;

const seen: Array<{ path: string; prefetch: boolean }> = [];
let releaseHeld: (() => void) | undefined;
const release = () => {
  releaseHeld?.();
  releaseHeld = undefined;
};
const origin = createServer((req: IncomingMessage, res: ServerResponse) => {
  const path = req.url ?? '';
  if (path === '/healthz') return void res.end('{"status":"ok"}');
  const prefetch = req.headers['x-jitseg-prefetch'] === '1';
  seen.push({ path, prefetch });
  const answer = () => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'cache-control': 'public, max-age=31536000, immutable' });
    res.end(Buffer.from(`${path} ${prefetch ? 'prefetch' : 'player'}`));
  };
  // segment_2, asked as prefetch, is held: an encode at prefetch priority that is still running.
  if (prefetch && path.endsWith('/segment_2.m4s')) releaseHeld = answer;
  else answer();
});
let edge: NodeEdge;

beforeAll(async () => {
  await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
  edge = await startNodeEdge({ origins: [url], port: 0, prefetch: 1, originTimeoutMs: 60_000, healthCheckSeconds: 3600 });
});
afterAll(async () => {
  release();
  await edge?.close();
  await new Promise((resolve) => origin.close(resolve));
});

it('sends a player its own request to the origin while the same segment is being prefetched', async () => {
  expect((await fetch(`${edge.url}${BASE}/segment_1.m4s`)).status).toBe(200);
  // The edge's prefetch of segment 2 reaches the origin, marked, and is held there.
  while (!seen.some((s) => s.path.endsWith('/segment_2.m4s'))) await new Promise((r) => setTimeout(r, 20));
  const player = await fetch(`${edge.url}${BASE}/segment_2.m4s`);
  expect(player.status).toBe(200);
  expect(await player.text()).toMatch(/player$/);
  expect(seen.filter((s) => s.path.endsWith('/segment_2.m4s')).map((s) => s.prefetch)).toEqual([true, false]);
  // The player's fetch is the one later players join, and what the cache keeps.
  const again = await fetch(`${edge.url}${BASE}/segment_2.m4s`);
  expect(await again.text()).toMatch(/player$/);
  release();
});
