/**
 * Heads (issue 14, part 1): in linear play one encoder process makes a run of
 * consecutive segments. One origin makes the source's 240p rendition in runs,
 * another the same rendition one span per segment. Checked: a run makes
 * exactly the segments a span encode makes (tfdt, every sample's duration,
 * sample count, one IDR at the start, the rendition init's stsd) and stores
 * and announces each as soon as it is made, while its encoder still holds
 * its worker; a stream alternating run-made and span-made segments decodes
 * every source frame once, in order, on its own time (the source draws each
 * frame's number as a barcode) and plays in hls.js; a head stops before a
 * segment that exists, after the segment it is on when its player seeks
 * away, and when the queue pre-empts it for a player's start, storing no
 * part of what it had not finished. Audio: prefetch in linear play makes
 * every audio segment once, by runs, with the bytes a span makes for the
 * same URL (the stop conditions are the scheduler's, shared with video).
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Coordinator } from '../src/coordinate/cluster.js';
import { DroppedError, EncodeQueue, PRIORITY } from '../src/coordinate/encode-queue.js';
import { Heads, type HeadHost, type RunMaker } from '../src/coordinate/heads.js';
import { SingleFlight } from '../src/coordinate/single-flight.js';
import { silentLogger } from '../src/observe/log.js';
import type { Rendition } from '../src/plan/renditions.js';
import type { StreamingConfig } from '../src/config/config.js';
import type { Content } from '../src/library/media-library.js';
import { Prefetcher } from '../src/prefetch/prefetcher.js';
import { findBoxes, readSamples } from '../src/package/fmp4.js';
import { sameSampleDescription } from '../src/package/validate.js';
import { launchChromium, servePlayerPages, until } from './support/browser.js';
import { decodeFrames, expectSameVideo } from './support/conformance.js';
import { FRAME_CODE, frameCodeFilter } from './support/corpus.js';
import { frameNumbers } from './support/frame-code.js';
import { cachedMedia } from './support/media-cache.js';
import { mediaFolder } from './support/media.js';
import { expectFramesChecked, expectNoSkip, withPlayer } from './support/player-run.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const FPS = 25;
const SECONDS = 12;
const P240 = { name: '240p', width: 320, height: 240, bitrate: 600, quality: 23 };
const P180 = { name: '180p', width: 240, height: 180, bitrate: 300, quality: 23 };

/** One worker, so a start must pre-empt what holds it; prefetch off: every encode is the test's. */
const config = (runSegments: number, profiles: (typeof P240)[]): Partial<StreamingConfig> => ({
  ...NO_PREFETCH,
  segment_duration: 1.5,
  profiles,
  encoder: encoderWith({ preset: 'ultrafast', workers: 1, run_segments: runSegments, video_runs: true }),
});

let media: string;
let sourceFile: string;
/** Video and AAC audio, for audio heads. */
let avFile: string;
/** Runs (240p and 180p) and spans (240p): the same cuts, so the same segments. */
let runs: TestServer;
let spans: TestServer;
let spansClosed = false;
let hash: string;
let content: Content;
let segmentCount: number;
const ids = { runs240: '', runs180: '', spans240: '' };
const ready: number[] = [];
/** The span origin's init and segments, made while the run origin makes its runs. */
let spanFiles: Promise<Buffer[]>;

async function register(server: TestServer, file = 'coded.mp4'): Promise<{ hash: string; info: any }> {
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json();
  return { hash: registered.hash, info: await (await fetch(`${server.url}${registered.urls.info}`)).json() };
}

const idOf = (info: any, height: number): string => info.renditions.find((r: any) => r.height === height).id;

async function get(server: TestServer, rendition: string, file: string): Promise<Buffer> {
  const response = await fetch(`${server.url}/api/v1/content/${hash}/video/${rendition}/${file}`);
  expect(response.status, file).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

const at = (renditionId: string, number: number) => ({ content, kind: 'video' as const, renditionId, number });

/** What must be the same in a run-made and a span-made segment: the fragment's timing, samples and sync samples. */
function timing(segment: Buffer) {
  const fragment = readSamples(segment, findBoxes(segment, ['moof', 'traf'])[0]!);
  return {
    tfdt: fragment.baseMediaDecodeTime,
    durations: fragment.samples.map((s) => s.duration),
    sync: fragment.samples.flatMap((s, i) => ((s.flags & 0x10000) === 0 ? [i] : [])),
  };
}

beforeAll(async () => {
  // 320x240 with its frame number as a barcode; keyframes at irregular times, so some cuts fall between them.
  sourceFile = await cachedMedia({
    file: 'heads-coded-320x240-25.mp4',
    steps: [
      (output) => [
        '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${FPS}:duration=${SECONDS}`, '-vf', frameCodeFilter(),
        '-c:v', 'libx264', '-preset', 'ultrafast', '-x264-params', 'keyint=250:scenecut=0', '-force_key_frames', '0,4.4,9.2',
        '-pix_fmt', 'yuv420p', output,
      ],
    ],
  });
  avFile = await cachedMedia({
    file: 'heads-av-320x240-aac48k.mp4',
    steps: [
      (output) => [
        '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${FPS}:duration=${SECONDS}`,
        '-f', 'lavfi', '-i', `anoisesrc=color=pink:seed=3:amplitude=0.3:sample_rate=48000:duration=${SECONDS},aformat=channel_layouts=stereo`,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', output,
      ],
    ],
  });
  media = await mediaFolder({ 'coded.mp4': sourceFile, 'av.mp4': avFile });
  [runs, spans] = await Promise.all([testServer(media, config(8, [P240, P180])), testServer(media, config(1, [P240]))]);
  const [r, s] = await Promise.all([register(runs), register(spans)]);
  hash = r.hash;
  segmentCount = r.info.segments;
  ids.runs240 = idOf(r.info, 240);
  ids.runs180 = idOf(r.info, 180);
  ids.spans240 = idOf(s.info, 240);
  content = await runs.library.get(hash);
  spanFiles = (async () => {
    const files = [await get(spans, ids.spans240, 'init.mp4')];
    for (let n = 1; n <= segmentCount; n++) files.push(await get(spans, ids.spans240, `segment_${n}.m4s`));
    return files;
  })();
  spanFiles.catch(() => undefined); // awaited (and failed) by the tests
  runs.events.subscribe((event) => {
    if (event.type === 'SegmentReady' && event.rendition === ids.runs240) ready.push(event.segment);
  });
}, 60_000);

afterAll(async () => {
  await runs?.close();
  if (!spansClosed) await spans?.close();
  await Promise.all([media, runs?.cacheDir, spans?.cacheDir].map((dir) => dir && rm(dir, { recursive: true, force: true })));
});

describe('heads', () => {
  const made = new Map<number, Buffer>();
  const spanMade = new Map<number, Buffer>();

  it('a head makes the missing run up to an existing segment in one process, storing and announcing each segment as it is made', async () => {
    expect(segmentCount).toBe(8);
    // The source's keyframes are not all on the plan's cuts: the run must cut where no source keyframe is.
    expect(content.plan.videoSegments.some((s) => !s.onKeyframe)).toBe(true);
    await get(runs, ids.runs240, 'segment_4.m4s');
    expect(runs.origin.counters.spansEncoded).toBe(1);

    const first = runs.origin.heads.start(at(ids.runs240, 1), 8)!;
    // It stops before segment 4, which exists.
    expect(first).toHaveLength(3);
    // When segment 1 is handed over, the run's encoder still holds its worker and segment 2 is not stored yet.
    const whenFirst = first[0]!.then(() => ({ running: runs.queue.running, second: runs.origin.isStored(at(ids.runs240, 2)) }));
    await Promise.all(first);
    expect(await whenFirst).toEqual({ running: 1, second: false });

    const second = runs.origin.heads.start(at(ids.runs240, 5), 8)!;
    expect(second).toHaveLength(segmentCount - 4);
    await Promise.all(second);
    expect(runs.origin.heads.counters).toEqual({ heads: 2, segments: segmentCount - 1 });
    expect(runs.origin.counters.spansEncoded).toBe(1);
    expect(ready).toEqual([4, 1, 2, 3, ...Array.from({ length: segmentCount - 4 }, (_, i) => i + 5)]);
    // Served from the store now, without another encode.
    for (let n = 1; n <= segmentCount; n++) made.set(n, await get(runs, ids.runs240, `segment_${n}.m4s`));
    expect(runs.origin.counters.spansEncoded).toBe(1);
  }, 60_000);

  it('run-made segments are interchangeable with span-made ones: same tfdt, sample durations and count, one IDR, the same stsd', async () => {
    const [spanInit, ...spanSegments] = await spanFiles;
    expect(sameSampleDescription(await get(runs, ids.runs240, 'init.mp4'), spanInit!)).toBe(true);
    for (let n = 1; n <= segmentCount; n++) {
      const planned = content.plan.videoSegments[n - 1]!;
      const run = timing(made.get(n)!);
      spanMade.set(n, spanSegments[n - 1]!);
      expect(run, `segment ${n}`).toEqual(timing(spanMade.get(n)!));
      expect(run.tfdt).toBe(planned.start);
      expect(run.durations).toHaveLength(planned.frameCount);
      expect(run.sync, `segment ${n}: its only IDR is its first frame`).toEqual([0]);
    }
  }, 60_000);

  it('a stream alternating run-made and span-made segments decodes every source frame, in order, on its own time', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-heads-mix-'));
    const parts = [(await spanFiles)[0]!];
    for (let n = 1; n <= segmentCount; n++) parts.push((n % 2 === 1 ? made : spanMade).get(n)!);
    const file = path.join(dir, 'mixed.mp4');
    await writeFile(file, Buffer.concat(parts));
    expect(await frameNumbers(file)).toEqual(Array.from({ length: FPS * SECONDS }, (_, i) => i));
    expectSameVideo('alternating', await decodeFrames(file, '0:v:0'), await decodeFrames(sourceFile, '0:v:0'));
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('hls.js plays the alternating stream from an origin whose store holds it, every frame at its time', async () => {
    // The span origin's store with the odd segments replaced by run-made ones, under a new origin.
    await spans.close();
    spansClosed = true;
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-heads-cache-'));
    await cp(spans.cacheDir, cacheDir, { recursive: true });
    await rm(path.join(cacheDir, 'index', 'segments.json'), { force: true });
    for (let n = 1; n <= segmentCount; n += 2) {
      await writeFile(spans.segments.mediaPath(hash, 'video', ids.spans240, `segment_${n}.m4s`).replace(spans.cacheDir, cacheDir), made.get(n)!);
    }
    const mixed = await testServer(media, config(1, [P240]), { cacheDir });
    let browser: Browser | undefined;
    const pages = await servePlayerPages();
    try {
      await register(mixed);
      for (let n = 1; n <= segmentCount; n++) {
        const served = await get(mixed, ids.spans240, `segment_${n}.m4s`);
        expect(served.equals((n % 2 === 1 ? made : spanMade).get(n)!), `segment ${n} is the ${n % 2 === 1 ? 'run' : 'span'}-made one`).toBe(true);
      }
      browser = await launchChromium();
      const url = `${mixed.url}/api/v1/content/${hash}/master.m3u8`;
      await withPlayer(browser, pages.url, { label: 'hls.js', kind: 'hls', url, options: { abr: false, frameCode: { ...FRAME_CODE, fps: FPS } } }, async ({ page, log }) => {
        // Past three joins between a run-made and a span-made segment (2.0, 3.5 and 4.4 s).
        const state = await until(page, 'play past 4.8 s', (s) => s.currentTime > 4.8);
        expectNoSkip(state, log);
        expectFramesChecked(state, FPS);
      });
      expect(mixed.origin.counters.spansEncoded).toBe(0);
    } finally {
      await browser?.close();
      await pages.close();
      await mixed.close();
      await rm(cacheDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('a head stops after the segment it is on when its player seeks away: the rest are dropped, none stored', async () => {
    const seek = new AbortController();
    const before = runs.origin.heads.counters.segments;
    const head = runs.origin.heads.start(at(ids.runs180, 1), 8, { signal: seek.signal, client: 'player' })!;
    expect(head).toHaveLength(segmentCount);
    // The player seeks away as segment 1 is handed over (the encoder has more in hand by then).
    void head[0]!.then(() => seek.abort());
    const settled = await Promise.allSettled(head);
    expect(settled[0]!.status).toBe('fulfilled');
    for (const [i, outcome] of settled.slice(1).entries()) {
      expect(outcome.status === 'rejected' && outcome.reason instanceof DroppedError, `segment ${i + 2} dropped`).toBe(true);
      expect(runs.origin.isStored(at(ids.runs180, i + 2)), `segment ${i + 2} not stored`).toBe(false);
    }
    expect(runs.origin.heads.counters.segments).toBe(before + 1);
  }, 60_000);

  it('a head pre-empted for a player\'s start ends after the segment it made; the rest are made one by one', async () => {
    const before = { ...runs.origin.heads.counters, spans: runs.origin.counters.spansEncoded, preempted: runs.queue.preempted };
    // A player waits for segment 2: the head runs at its priority, in the one player worker a start can pre-empt.
    const key = `${hash}/video/${ids.runs180}/segment_2.m4s`;
    runs.queue.raise(key, PRIORITY.request);
    const head = runs.origin.heads.start(at(ids.runs180, 2), 8)!;
    expect(head).toHaveLength(segmentCount - 1);
    // A start is queued (as the origin queues a player's) when segment 2 is handed over: the head holds the only worker.
    let start: Promise<string> | undefined;
    void head[0]!.then(() => {
      start = runs.queue.run('a start', async () => 'started', { priority: PRIORITY.start });
    });
    const bodies = await Promise.all(head);
    expect(await start).toBe('started');
    expect(runs.queue.preempted).toBe(before.preempted + 1);
    expect(runs.origin.heads.counters).toEqual({ heads: before.heads + 1, segments: before.segments + 1 });
    // Segments 3.. were made as spans, and what is served is what was handed over.
    expect(runs.origin.counters.spansEncoded).toBe(before.spans + segmentCount - 2);
    for (let n = 2; n <= segmentCount; n++) expect((await get(runs, ids.runs180, `segment_${n}.m4s`)).equals(bodies[n - 2]!), `segment ${n}`).toBe(true);
    runs.queue.release(key);
  }, 60_000);
});

describe('prefetch in linear play', () => {
  let prefetching: TestServer;
  beforeAll(async () => {
    prefetching = await testServer(media, { ...config(8, [P180]), prefetch: { enabled: true, startup_segments: 3, ahead_segments: 5, seek_segments: 2 } });
  });
  afterAll(async () => {
    await prefetching?.close();
    if (prefetching) await rm(prefetching.cacheDir, { recursive: true, force: true });
  });

  it('a player starting linear play gets its rendition made by heads, every segment once', async () => {
    const { info } = await register(prefetching);
    const rendition = idOf(info, 180);
    const player = { 'X-Playback-Session-Id': 'heads-player' };
    for (const file of ['init.mp4', 'segment_1.m4s']) {
      expect((await fetch(`${prefetching.url}/api/v1/content/${hash}/video/${rendition}/${file}`, { headers: player })).status).toBe(200);
    }
    const played = await prefetching.library.get(hash);
    const storedAll = () => Array.from({ length: segmentCount }, (_, i) => prefetching.origin.isStored({ content: played, kind: 'video', renditionId: rendition, number: i + 1 })).every(Boolean);
    // Prefetch's own pace (bounded by the test's timeout).
    while (!storedAll()) await new Promise((r) => setTimeout(r, 50));
    // The init's request starts a head over start-up's segments 1-3 (segment 1's request joins it and raises it:
    // where renice is not allowed, that pre-empts it and 1-3 are made as spans); segment 1's starts one over 4-8.
    // Every segment is made once.
    const { heads, segments } = prefetching.origin.heads.counters;
    expect(segments + prefetching.origin.counters.spansEncoded).toBe(segmentCount);
    expect(segments).toBeGreaterThanOrEqual(segmentCount - 3);
    expect(heads).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('a player in linear play gets its audio made by heads, every segment once, the bytes a span makes for the same URL', async () => {
    const { hash: av } = await register(prefetching, 'av.mp4');
    const played = await prefetching.library.get(av);
    const audio = played.plan.audio[0]!;
    const count = audio.segments.length;
    expect(count).toBeGreaterThanOrEqual(6);
    const made: number[] = [];
    prefetching.events.subscribe((event) => {
      if (event.type === 'SegmentReady' && event.content === av && event.kind === 'audio') made.push(event.segment);
    });
    const before = { ...prefetching.origin.heads.counters, spans: prefetching.origin.counters.spansEncoded };
    const url = (server: TestServer, file: string) => `${server.url}/api/v1/content/${av}/audio/${audio.id}/${file}`;
    const player = { 'X-Playback-Session-Id': 'heads-audio-player' };
    const play = async (file: string) => {
      const response = await fetch(url(prefetching, file), { headers: player });
      expect(response.status, file).toBe(200);
      return Buffer.from(await response.arrayBuffer());
    };
    const storedUpTo = async (last: number) => {
      const stored = () => Array.from({ length: last }, (_, i) => prefetching.origin.isStored({ content: played, kind: 'audio', renditionId: audio.id, number: i + 1 })).every(Boolean);
      // Prefetch's own pace (bounded by the test's timeout).
      while (!stored()) await new Promise((r) => setTimeout(r, 20));
    };
    // The player asks for each segment once prefetch has it: a request for a segment a head is making raises the head,
    // which pre-empts it where renice is not allowed (the scheduler's rule, tested above for video).
    const served = [await play('init.mp4')];
    // The init's request starts a head over start-up's segments 1-3, segment 1's one over 4-8.
    await storedUpTo(3);
    served.push(await play('segment_1.m4s'));
    await storedUpTo(count);
    for (let n = 2; n <= count; n++) served.push(await play(`segment_${n}.m4s`));
    expect(made).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(prefetching.origin.counters.spansEncoded).toBe(before.spans);
    expect(prefetching.origin.heads.counters).toEqual({ heads: before.heads + 2, segments: before.segments + count });

    // The same URLs from the origin that made no audio yet, each segment as a span (prefetch off, cold requests).
    await register(runs, 'av.mp4');
    const spansBefore = runs.origin.counters.spansEncoded;
    for (const [i, file] of ['init.mp4', ...Array.from({ length: count }, (_, n) => `segment_${n + 1}.m4s`)].entries()) {
      const response = await fetch(url(runs, file));
      expect(response.status, file).toBe(200);
      expect(Buffer.from(await response.arrayBuffer()).equals(served[i]!), `${file}: run-made = span-made`).toBe(true);
    }
    expect(runs.origin.counters.spansEncoded).toBe(spansBefore + count);
  }, 60_000);


  it('keeps the segment needed next a span of its own and queues the rest a whole head at a time', () => {
    const heads: string[] = [];
    const spans: number[] = [];
    const prefetcher = new Prefetcher(
      { enabled: true, startup: 3, ahead: 5, afterSeek: 2, runSegments: 8 },
      async ({ number }) => spans.push(number),
      () => false,
      () => {},
      // As the origin's: no head over fewer than two segments.
      ({ number }, count) => {
        heads.push(`${number}+${count}`);
        return count < 2 ? undefined : Array.from({ length: count }, () => Promise.resolve());
      },
    );
    const request = (number: number) =>
      prefetcher.onRequest({ client: 'c', content: { metadata: { hash: 'h' } } as Content, kind: 'video', renditionId: 'r', number, segmentCount: 30 });
    expect(request(1)).toEqual([2, 3]);
    // Linear: fewer than `ahead` queued past the player, so the next eight together.
    expect(request(2)).toEqual([4, 5, 6, 7, 8, 9, 10, 11]);
    for (let n = 3; n <= 6; n++) expect(request(n)).toEqual([]);
    expect(request(7)).toEqual([12, 13, 14, 15, 16, 17, 18, 19]);
    // A seek: the segment after it first, alone.
    expect(request(25)).toEqual([26, 27]);
    expect(heads).toEqual(['3+1', '4+8', '12+8', '27+1']);
    expect(spans).toEqual([2, 3, 26, 27]);
  });
});

describe('a head in a cluster', () => {
  it('takes each segment\'s lease before its encode and ends before one another instance holds; the rest are made as spans', async () => {
    const stored = new Set<number>();
    const leases: string[] = [];
    const flights = new SingleFlight<Buffer>();
    const queue = new EncodeQueue(1);
    const coordinator = {
      lease: async (key: string) => {
        leases.push(key);
        // Another instance is making segment 4.
        return key === 'k/4' ? undefined : { end: async (made: boolean) => void leases.push(`${key} ${made ? 'made' : 'let go'}`) };
      },
    } as unknown as Coordinator;
    const host: HeadHost = {
      coordinator,
      logger: silentLogger(),
      locate: ({ number }) => ({ key: `k/${number}`, found: {} as Rendition, segmentCount: 10 }),
      isStored: ({ number }) => stored.has(number),
      inFlight: (key) => flights.has(key),
      fly: (key, promise) => flights.run(key, () => promise),
      inWorker: (key, _options, work) => queue.run(key, work, { priority: PRIORITY.prefetch }),
      raise: (key, priority) => queue.raise(key, priority),
      raiseRunning: (key) => queue.raiseRunning(key),
      release: (key) => queue.release(key),
      isWanted: (key) => queue.isWanted(key),
      keep: async ({ number }) => void stored.add(number),
      span: async ({ number }) => {
        stored.add(number);
        return Buffer.from(`span ${number}`);
      },
    };
    const maker: RunMaker = {
      canRun: async () => true,
      make: async ({ indexes, made }) => {
        for (const [position, index] of indexes.entries()) await made(position, Buffer.from(`run ${index + 1}`));
      },
    };
    const heads = new Heads(host, { video: maker }, 8);
    const segment = (number: number) => ({ content: {} as Content, kind: 'video' as const, renditionId: 'r', number });
    // Audio has no run maker here: its segments are spans.
    expect(heads.start({ ...segment(2), kind: 'audio' }, 8)).toBeUndefined();
    stored.add(10);
    const made = heads.start(segment(2), 20)!;
    // At most run_segments, and not segment 10, which exists.
    expect(made).toHaveLength(8);
    expect((await Promise.all(made)).map(String)).toEqual(['run 2', 'run 3', 'span 4', 'span 5', 'span 6', 'span 7', 'span 8', 'span 9']);
    expect(leases).toEqual(['k/2', 'k/3', 'k/4', 'k/2 made', 'k/3 made']);
    expect(heads.counters).toEqual({ heads: 1, segments: 2 });
  });
});
