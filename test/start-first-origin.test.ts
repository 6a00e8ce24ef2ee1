/**
 * Start-first at the HTTP level (issue 13: cold start on a busy machine).
 * One worker, a queue filled with prefetch and later-segment requests of one
 * content: a new player's start on another content (both inits, video and
 * audio segment 1) is answered 200 — prefetch shed, the running request
 * pre-empted — and made before any of the queued work.
 *
 * The proof is order, never durations: a wrapper around ffmpeg holds every
 * encode of the busy content at a gate the test opens only once the new
 * player's start has been answered (prefetch, at nice 19, at a second gate).
 * The one worker is held by that content's work when the start arrives, so
 * the start is answered only if it waits behind none of it.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mediaFolder, testSource } from './support/media.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const exec = promisify(execFile);

interface Gates {
  /** The ffmpeg wrapper. */
  path: string;
  /** Lets the encodes of `busyFile` at normal priority go on. */
  openBusy(): Promise<void>;
  /** Lets prefetch (niced) go on too. */
  openPrefetch(): Promise<void>;
}

/** Holds every encode reading `busyFile` until openBusy(), and every niced one until openPrefetch() too; others run at once. */
async function gatedFfmpeg(busyFile: string): Promise<Gates> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-startgate-'));
  const [script, busy, prefetch] = ['ffmpeg.sh', 'busy', 'prefetch'].map((f) => path.join(dir, f)) as [string, string, string];
  await writeFile(
    script,
    `#!/bin/sh
# The origin names the source file:<path>, on Linux its open file (/proc/<pid>/fd/<n>): follow that link to the name.
for arg in "$@"; do
  case "$arg" in file:*)
    name="\${arg#file:}"
    if [ -L "$name" ]; then name="$(readlink "$name")"; fi
    case "$name" in */${busyFile}) held=1;; esac;;
  esac
done
if [ -n "$held" ]; then while [ ! -e '${busy}' ]; do sleep 0.05; done; fi
while [ "$(nice)" -gt 0 ] && [ ! -e '${prefetch}' ]; do sleep 0.05; done
exec ffmpeg "$@"
`,
  );
  await chmod(script, 0o755);
  return { path: script, openBusy: () => writeFile(busy, ''), openPrefetch: () => writeFile(prefetch, '') };
}

/** Polls until `condition` holds; the test's own timeout is the only limit. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 20));
}

const ONE_WORKER = {
  ...NO_PREFETCH,
  segment_duration: 2,
  // A deadline far beyond the test: nothing here may be refused for time, only for room.
  encoder: encoderWith({ workers: 1, prefetch_workers: 1, max_queue: 4, max_wait_seconds: 600, stall_timeout_seconds: 600, hwaccel: 'none' }),
};

describe('a player starting on a busy origin', () => {
  let server: TestServer;
  let media: string;
  let gates: Gates;

  beforeAll(async () => {
    const small = await testSource('small');
    media = await mediaFolder({ 'a.mp4': small });
    // Another content: the same pictures, other bytes.
    await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', small, '-c', 'copy', '-metadata', 'title=b', path.join(media, 'b.mp4')]);
    server = await testServer(media, ONE_WORKER);
    gates = await gatedFfmpeg('a.mp4');
  }, 300_000);

  afterAll(async () => {
    delete process.env.JITSEG_FFMPEG;
    await gates?.openBusy();
    await gates?.openPrefetch();
    await server?.close();
    await Promise.all([media, server?.cacheDir].map((dir) => dir && rm(dir, { recursive: true, force: true })));
  });

  async function register(file: string) {
    const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json();
    const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
    const base = `${server.url}/api/v1/content/${registered.hash}`;
    return { hash: registered.hash as string, video: `${base}/video/${info.renditions[0].id}`, audio: `${base}/audio/${info.audio[0].id}` };
  }

  it('answers both inits and segment 1 of video and audio 200, made before the queued prefetch and later segments', async () => {
    const a = await register('a.mp4');
    const b = await register('b.mp4');
    const { queue } = server;
    const order: string[] = [];
    const name = (hash: string) => (hash === a.hash ? 'A' : 'B');
    const stop = server.events.subscribe((e) => e.type === 'SegmentReady' && order.push(`ready ${name(e.content)} ${e.kind} ${e.segment}`));
    // Encodes from here on: content A's wait at the gates.
    process.env.JITSEG_FFMPEG = gates.path;
    const ask = (url: string, headers: Record<string, string>, label: string) =>
      fetch(url, { headers }).then(async (response) => {
        await response.arrayBuffer();
        order.push(`answered ${label} ${response.status}`);
        return response.status;
      });
    const player = (id: string) => ({ 'x-playback-session-id': id });
    const edgePrefetch = { 'x-jitseg-prefetch': '1' };

    // Content A: players already playing it (segments past the first, from clients not seen starting) and an edge
    // prefetching ahead fill the one worker, the one prefetch slot and the whole queue.
    const busy: Array<Promise<number>> = [];
    const fill = async (url: string, headers: Record<string, string>, label: string, done: () => boolean) => {
      busy.push(ask(url, headers, label));
      await until(done);
    };
    await fill(`${a.video}/segment_2.m4s`, player('u1'), 'A video 2', () => queue.running === 1);
    await fill(`${a.video}/segment_3.m4s`, edgePrefetch, 'A video 3 (prefetch)', () => queue.running === 2);
    await fill(`${a.video}/segment_4.m4s`, edgePrefetch, 'A video 4 (prefetch)', () => queue.depth === 1);
    await fill(`${a.audio}/segment_2.m4s`, player('u2'), 'A audio 2', () => queue.depth === 2);
    await fill(`${a.audio}/segment_3.m4s`, player('u3'), 'A audio 3', () => queue.depth === 3);
    await fill(`${a.audio}/segment_4.m4s`, edgePrefetch, 'A audio 4 (prefetch)', () => queue.depth === 4);
    expect(queue.waitingByReason).toEqual({ start: 0, request: 2, prefetch: 2 });

    // A new player starts on content B, as hls.js does: the inits, then segment 1 of each.
    const starting = [
      ask(`${b.video}/init.mp4`, player('b'), 'B video init'),
      ask(`${b.audio}/init.mp4`, player('b'), 'B audio init'),
      ask(`${b.video}/segment_1.m4s`, player('b'), 'B video 1'),
      ask(`${b.audio}/segment_1.m4s`, player('b'), 'B audio 1'),
    ];
    // Answered while every encode of A is still held at its gate: the starts waited behind none of them.
    expect(await Promise.all(starting)).toEqual([200, 200, 200, 200]);
    // The request holding the worker was cut for the first start; the waiting prefetch shed for both.
    expect(queue.preempted).toBe(1);
    expect(queue.shed).toBe(2);
    expect(queue.refused).toBe(0);
    expect(order.filter((e) => e.startsWith('ready A'))).toEqual([]);
    await gates.openBusy();
    await gates.openPrefetch();
    const statuses = await Promise.all(busy);
    stop();

    const at = (event: string) => order.indexOf(event);
    const made = order.filter((e) => e.startsWith('ready'));
    expect(made.slice(0, 2).sort()).toEqual(['ready B audio 1', 'ready B video 1']);
    // Room was made by shedding the waiting prefetch (the edge is told 503 and comes back), never by refusing a player.
    expect(statuses).toEqual([200, 200, 503, 200, 200, 503]);
    expect(made.slice(2).sort()).toEqual(['ready A audio 2', 'ready A audio 3', 'ready A video 2', 'ready A video 3']);
    // The request cut for the start ran again first among the requests.
    expect(at('ready A video 2')).toBeLessThan(at('ready A audio 2'));
  });
});
