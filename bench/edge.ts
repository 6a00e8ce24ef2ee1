/**
 * Warm throughput through the edge worker next to the origin directly, for
 * `npm run bench`: one origin process, one edge process (Node entry) in
 * front of it, and the same 50-client load on a warm 720p segment of the
 * 30 s 1080p source through each.
 *
 * Internal mode:  edge.ts --serve-edge <origin url>   (one edge in this child process)
 * Also runnable alone: npx tsx bench/edge.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVE_SCRIPT } from './harness.js';
import { killChildServers, loadTest, serveUntilStopped, startChildServer, type LoadResult } from './lib.js';
import { BENCH_DIR, ensureMain1080p } from './sources.js';

const SELF = fileURLToPath(import.meta.url);
const CLIENTS = 50;
const LOAD_MS = 3_000;

export interface EdgeResults {
  segmentBytes: number;
  direct: LoadResult;
  edge: LoadResult;
  ratio: number;
}

export async function measureEdge(): Promise<EdgeResults> {
  const file = path.basename(await ensureMain1080p());
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-bench-edge-'));
  const origin = await startChildServer(SERVE_SCRIPT, ['origin', BENCH_DIR, cacheDir]);
  try {
    const edge = await startChildServer(SELF, ['--serve-edge', origin.url]);
    try {
      const registered = (await (await fetch(`${origin.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json()) as { hash: string; urls: { info: string } };
      const info = (await (await fetch(`${origin.url}${registered.urls.info}`)).json()) as { renditions: Array<{ id: string; name: string }> };
      const rendition = info.renditions.find((r) => r.name === '720p') ?? info.renditions[0]!;
      const segment = `/api/v1/content/${registered.hash}/video/${rendition.id}/segment_2.m4s`;
      const bytes = (await (await fetch(`${origin.url}${segment}`)).arrayBuffer()).byteLength; // encoded once
      await (await fetch(`${edge.url}${segment}`)).arrayBuffer(); // and in the edge's cache
      const direct = await loadTest(origin.url, segment, CLIENTS, LOAD_MS, bytes);
      const throughEdge = await loadTest(edge.url, segment, CLIENTS, LOAD_MS, bytes);
      return { segmentBytes: bytes, direct, edge: throughEdge, ratio: throughEdge.requestsPerSecond / direct.requestsPerSecond };
    } finally {
      await edge.stop();
    }
  } finally {
    await origin.stop();
    await rm(cacheDir, { recursive: true, force: true });
  }
}

export function reportEdge(r: EdgeResults): string[] {
  const line = (label: string, l: LoadResult) => `| ${label} | ${Math.round(l.requestsPerSecond)} req/s | ${l.p50Ms.toFixed(1)} ms | ${l.p99Ms.toFixed(1)} ms |`;
  return [
    '',
    `### Warm segment through the edge (720p, ${(r.segmentBytes / 1e6).toFixed(2)} MB, ${CLIENTS} clients × ${LOAD_MS / 1000} s)`,
    '',
    '| Path | Throughput | p50 | p99 |',
    '|---|---:|---:|---:|',
    line('origin directly', r.direct),
    line('through the edge (Node, in-memory cache)', r.edge),
    '',
    `Edge / direct: ×${r.ratio.toFixed(2)} (the edge answers from its own memory; on this 2-core machine it shares the cores with the origin and the load generator).`,
  ];
}

if (process.argv[2] === '--serve-edge') {
  const { startNodeEdge } = await import('../edge/src/node.js');
  const running = await startNodeEdge({ origins: [process.argv[3]!], port: 0 });
  serveUntilStopped(running.url, running.close);
} else if (process.argv[1] === SELF) {
  try {
    console.log(reportEdge(await measureEdge()).join('\n'));
  } finally {
    killChildServers();
  }
}
