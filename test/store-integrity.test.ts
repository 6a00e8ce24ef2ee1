/**
 * Nothing damaged or foreign is ever served: files a crash tore are found and
 * made again after a restart, a peer's bytes are checked like a local encode,
 * a rendition's init segment is created exactly once, and the work
 * directories a killed process leaves are removed at start-up.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/observe/log.js';
import { avcCodecString, findBoxes, initTimescale, readBoxes, summarizeFragment } from '../src/package/fmp4.js';
import { fragmentProblem, initProblem, type FragmentExpectation, type InitExpectation } from '../src/package/validate.js';
import { ContentStore } from '../src/store/content-store.js';
import { SegmentCache } from '../src/store/segment-cache.js';
import { SegmentStore, type InitFile } from '../src/store/segment-store.js';
import { exec, mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';

/** Two small renditions, so a segment of the other one is at hand. */
const STREAMING = {
  ...NO_PREFETCH,
  segment_duration: 2,
  profiles: [
    { name: '360p', width: 640, height: 360, bitrate: 800, quality: 23 },
    { name: '240p', width: 426, height: 240, bitrate: 400, quality: 23 },
  ],
};

interface Registered {
  hash: string;
  video: string[];
  audio: string;
  segments: number;
}

async function register(server: TestServer, file: string): Promise<Registered> {
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json();
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  return { hash: registered.hash, video: info.renditions.map((r: { id: string }) => r.id), audio: info.audio[0].id, segments: info.segments };
}

async function get(server: TestServer, content: Registered, kind: 'video' | 'audio', rendition: string, file: string): Promise<Buffer> {
  const response = await fetch(`${server.url}/api/v1/content/${content.hash}/${kind}/${rendition}/${file}`);
  expect(response.status, `${kind}/${rendition}/${file}`).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

const transcodes = async (server: TestServer) => metricValue(await scrape(server.url), 'jitseg_transcodes_total');
const initEncodes = async (server: TestServer) => metricValue(await scrape(server.url), 'jitseg_init_encodes_total');

/** What a segment known to be good holds (it was checked against the plan when it was made). */
function expectationOf(segment: Buffer, sequence: number, video = true): FragmentExpectation {
  const { sampleCount, baseMediaDecodeTime, duration } = summarizeFragment(segment);
  return { sequence, sampleCount, baseMediaDecodeTime, duration, video };
}

/** The same segment with its mdat's size field one bit off. */
function withFlippedMdatSize(segment: Buffer, bit: number): Buffer {
  const out = Buffer.from(segment);
  const mdat = readBoxes(out).find((b) => b.type === 'mdat')!;
  out.writeUInt32BE(out.readUInt32BE(mdat.start) ^ (1 << bit), mdat.start);
  return out;
}

/** A random cut inside the file (the offset goes into the failure message). */
const randomCut = (length: number) => 1 + Math.floor(Math.random() * (length - 1));

let media: string;
let reference: TestServer;
let content: Registered;
/** Made by a plain origin: rendition 0 init and segments 1-9, rendition 1 init and segment 9. */
const made = new Map<string, Buffer>();

beforeAll(async () => {
  media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
  reference = await testServer(media, STREAMING);
  content = await register(reference, 'clip.mp4');
  expect(content.video.length).toBeGreaterThanOrEqual(2);
  made.set('init', await get(reference, content, 'video', content.video[0]!, 'init.mp4'));
  for (let n = 1; n <= 9; n++) made.set(`segment_${n}`, await get(reference, content, 'video', content.video[0]!, `segment_${n}.m4s`));
  made.set('other-init', await get(reference, content, 'video', content.video[1]!, 'init.mp4'));
  made.set('other-segment_9', await get(reference, content, 'video', content.video[1]!, 'segment_9.m4s'));
}, 120_000);

afterAll(async () => {
  await reference?.close();
});

describe('the checks every stored or fetched file passes', () => {
  it('find every cut of a segment and of an init, a flipped mdat size, and another segment or rendition', async () => {
    const segment = made.get('segment_3')!;
    const expected = expectationOf(segment, 3);
    expect(fragmentProblem(segment, expected)).toBeUndefined();
    for (let cut = 0; cut < segment.length; cut++) {
      expect(fragmentProblem(segment.subarray(0, cut), expected), `cut at ${cut} of ${segment.length}`).toBeDefined();
    }
    for (let bit = 0; bit < 24; bit++) expect(fragmentProblem(withFlippedMdatSize(segment, bit), expected), `mdat size bit ${bit}`).toBeDefined();
    expect(fragmentProblem(made.get('segment_4')!, expected)).toMatch(/sequence number 4, expected 3/);
    expect(fragmentProblem(setSequence(made.get('segment_4')!, 3), expected)).toMatch(/not the planned segment/);
    // Garbage in the sample data (same sizes): the NAL unit lengths no longer add up.
    const garbled = Buffer.from(segment);
    const mdat = readBoxes(garbled).find((b) => b.type === 'mdat')!;
    garbled.fill(0xff, mdat.payload, mdat.payload + 64);
    expect(fragmentProblem(garbled, expected)).toMatch(/malformed NAL unit/);

    const init = made.get('init')!;
    const shape = await initShape(init);
    expect(initProblem(init, shape)).toBeUndefined();
    for (let cut = 0; cut < init.length; cut++) expect(initProblem(init.subarray(0, cut), shape), `init cut at ${cut}`).toBeDefined();
    expect(initProblem(made.get('other-init')!, shape)).toMatch(/picture|codec/);
  });
});

describe('a torn file in the cache', () => {
  it('is not served after a restart: the origin deletes it and makes it again', async () => {
    const first = await testServer(media, STREAMING);
    const own = await register(first, 'clip.mp4');
    const [video, audio] = [own.video[0]!, own.audio];
    const original = new Map<string, Buffer>();
    for (let n = 1; n <= 4; n++) original.set(`segment_${n}`, await get(first, own, 'video', video, `segment_${n}.m4s`));
    original.set('audio-init', await get(first, own, 'audio', audio, 'init.mp4'));
    await first.close();

    // A power loss tore three files: one cut short at a random byte, one whose mdat size is wrong, and an init.
    const dir = (kind: string, rendition: string) => path.join(first.cacheDir, own.hash, kind, rendition);
    const cut = randomCut(original.get('segment_2')!.length);
    await truncate(path.join(dir('video', video), 'segment_2.m4s'), cut);
    await writeFile(path.join(dir('video', video), 'segment_3.m4s'), withFlippedMdatSize(original.get('segment_3')!, 12));
    await truncate(path.join(dir('audio', audio), 'init.mp4'), randomCut(original.get('audio-init')!.length));

    const restarted = await testServer(media, STREAMING, { cacheDir: first.cacheDir });
    try {
      for (const n of [1, 2, 3, 4]) {
        const body = await get(restarted, own, 'video', video, `segment_${n}.m4s`);
        expect(fragmentProblem(body, expectationOf(original.get(`segment_${n}`)!, n)), `segment ${n} (segment 2 was cut at ${cut})`).toBeUndefined();
        expect((await readFile(path.join(dir('video', video), `segment_${n}.m4s`))).equals(body)).toBe(true);
      }
      const audioInit = await get(restarted, own, 'audio', audio, 'init.mp4');
      expect(initProblem(audioInit, await initShape(original.get('audio-init')!))).toBeUndefined();
      expect(audioInit.equals(original.get('audio-init')!)).toBe(true);
      // Two segments and one init (from a few frames of silence, no segment encode) were made again; the whole ones were served as they were.
      expect(await transcodes(restarted)).toBe(2);
      expect(await initEncodes(restarted)).toBe(1);
      expect(restarted.segments.damaged).toBe(3);
    } finally {
      await restarted.close();
    }
  });
});

describe('a peer that answers with a bad segment', () => {
  let redis: TestRedis;
  let peer: Server;
  let peerUrl: string;
  /** What the fake peer answers, by file name of rendition 0; and what it was asked. */
  const answers = new Map<string, Buffer>();
  const asked: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    peer = createServer((req, res) => {
      const file = new URL(req.url!, 'http://x').pathname.split('/').pop()!;
      asked.push(file);
      const body = answers.get(file);
      res.writeHead(body ? 200 : 404).end(body);
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    peerUrl = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => peer?.close(resolve));
    await redis?.stop();
  });

  it('is not believed: the origin makes the segment itself; a good one is taken', async () => {
    const server = await testServer(media, STREAMING, { redisUrl: redis.url });
    const client = new Redis(redis.url);
    try {
      const own = await register(server, 'clip.mp4');
      expect(own.hash).toBe(content.hash);
      const video = own.video[0]!;
      const holderOf = (file: string) => client.sadd(`jitseg:holders:${own.hash}/video/${video}/${file}`, peerUrl);
      const ask = async (n: number) => {
        await holderOf(`segment_${n}.m4s`);
        const before = { encodes: await transcodes(server), asked: asked.length };
        const body = await get(server, own, 'video', video, `segment_${n}.m4s`);
        const stored = await readFile(path.join(server.cacheDir, own.hash, 'video', video, `segment_${n}.m4s`));
        return { body, stored, encodes: (await transcodes(server)) - before.encodes, asked: asked.slice(before.asked) };
      };

      // A good segment with its init: taken as it is, no encode (the fake peer is really asked).
      answers.set('segment_4.m4s', made.get('segment_4')!);
      answers.set('init.mp4', made.get('init')!);
      const good = await ask(4);
      expect(good.asked.sort()).toEqual(['init.mp4', 'segment_4.m4s']);
      expect(good.encodes).toBe(0);
      expect(good.body.equals(made.get('segment_4')!)).toBe(true);
      expect(metricValue(await scrape(server.url), 'jitseg_peer_fetches_total')).toBe(1);

      const cut = randomCut(made.get('segment_5')!.length);
      const bad: Array<[number, string, Buffer, Buffer?]> = [
        [5, `cut at byte ${cut}`, made.get('segment_5')!.subarray(0, cut)],
        [6, 'flipped mdat size', withFlippedMdatSize(made.get('segment_6')!, 9)],
        [7, 'another segment of the rendition', made.get('segment_8')!],
        [9, 'the segment of another rendition, with its init', made.get('other-segment_9')!, made.get('other-init')!],
      ];
      for (const [n, what, body, init] of bad) {
        answers.set(`segment_${n}.m4s`, body);
        answers.set('init.mp4', init ?? made.get('init')!);
        const answer = await ask(n);
        expect(answer.asked, what).toContain(`segment_${n}.m4s`);
        expect(answer.encodes, what).toBe(1);
        expect(fragmentProblem(answer.body, expectationOf(made.get(`segment_${n}`)!, n)), what).toBeUndefined();
        expect(answer.body.equals(answer.stored), what).toBe(true);
        expect(answer.body.equals(body), what).toBe(false);
      }
      expect(metricValue(await scrape(server.url), 'jitseg_peer_fetches_total')).toBe(1);
      // The init this origin serves is still the rendition's own.
      expect((await get(server, own, 'video', video, 'init.mp4')).equals(made.get('init')!)).toBe(true);
    } finally {
      client.disconnect();
      await server.close();
    }
  });
});

describe("a rendition's init segment", () => {
  it('is created by exactly one of two racing writers; the other gets the winner\'s', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'jitseg-once-'));
    const store = () => new SegmentStore(new ContentStore(root), new SegmentCache(root, { maxBytes: 1e9, retentionMs: 0 }), { logger: silentLogger() });
    const [a, b] = [store(), store()];
    const ours = made.get('init')!;
    // Another encoder's init for the same rendition: same codec string and size, other parameter sets.
    const theirs = Buffer.from(ours);
    const stsd = findBoxes(theirs, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'])[0]!;
    theirs.writeUInt8(theirs.readUInt8(stsd.end - 1) ^ 0x01, stsd.end - 1);
    const shape = await initShape(ours);
    expect(initProblem(theirs, shape)).toBeUndefined();
    for (let round = 0; round < 20; round++) {
      const file: InitFile = { role: 'init', path: path.join(root, 'a'.repeat(64), 'video', `r${round}`, 'init.mp4'), expect: shape };
      const [x, y] = await Promise.all([a.createInit(file, ours), b.createInit(file, theirs)]);
      expect([x.created, y.created].filter(Boolean), `round ${round}`).toHaveLength(1);
      expect(x.init.equals(y.init)).toBe(true);
      expect((await readFile(file.path)).equals(x.init)).toBe(true);
      const [e, f] = await Promise.all([a.recordEncoder(file, 'libx264'), b.recordEncoder(file, 'h264_nvenc')]);
      expect(e).toBe(f);
      expect((await readFile(path.join(path.dirname(file.path), 'encoder'), 'utf8'))).toBe(e);
      expect((await readdir(path.dirname(file.path))).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    }
  });

  it('is one file when two origins on one cache directory make the first segments of a new rendition at once; both segments fit it', async () => {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-shared-'));
    const [one, two] = [await testServer(media, STREAMING, { cacheDir }), await testServer(media, STREAMING, { cacheDir })];
    try {
      const own = await register(one, 'clip.mp4');
      await register(two, 'clip.mp4');
      const video = own.video[0]!;
      const [first, second] = await Promise.all([get(one, own, 'video', video, 'segment_1.m4s'), get(two, own, 'video', video, 'segment_2.m4s')]);
      // Both encoded (neither found the other's segment).
      expect((await transcodes(one)) + (await transcodes(two))).toBe(2);
      const dir = path.join(cacheDir, own.hash, 'video', video);
      expect((await readdir(dir)).sort()).toEqual(['encoder', 'init.mp4', 'segment_1.m4s', 'segment_2.m4s']);
      expect(await readFile(path.join(dir, 'encoder'), 'utf8')).toBe('libx264');
      const init = await readFile(path.join(dir, 'init.mp4'));
      expect((await get(one, own, 'video', video, 'init.mp4')).equals(init)).toBe(true);
      expect((await get(two, own, 'video', video, 'init.mp4')).equals(init)).toBe(true);
      // init + both segments decode as one stream, every planned frame.
      const joined = path.join(cacheDir, 'joined.mp4');
      await writeFile(joined, Buffer.concat([init, first, second]));
      const { stdout } = await exec('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', joined]);
      expect(Number(stdout.trim())).toBe(summarizeFragment(first).sampleCount + summarizeFragment(second).sampleCount);
    } finally {
      await one.close();
      await two.close();
    }
  });
});

describe('work directories left by a killed process', () => {
  it('are removed at start-up whatever their age; a live or unknown owner\'s recent ones stay', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'jitseg-work-'));
    const host = os.hostname().replace(/[^A-Za-z0-9.-]/g, '_');
    const dead = await new Promise<number>((resolve) => {
      const child = spawn('true');
      child.once('exit', () => resolve(child.pid!));
    });
    const dirs = {
      orphan: `job-${host}-${dead}-abc123`,
      live: `job-${host}-${process.ppid}-def456`,
      otherHost: `job-elsewhere.example-${dead}-ghi789`,
      unnamed: 'job-jkl012',
      oldUnnamed: 'job-mno345',
    };
    for (const name of Object.values(dirs)) {
      await mkdir(path.join(root, 'tmp', name), { recursive: true });
      await writeFile(path.join(root, 'tmp', name, 'part.ts'), 'partial');
    }
    const longAgo = new Date(Date.now() - 3_600_000);
    await utimes(path.join(root, 'tmp', dirs.oldUnnamed), longAgo, longAgo);
    await new ContentStore(root).init();
    const exists = (name: string) => stat(path.join(root, 'tmp', name)).then(() => true, () => false);
    expect(await exists(dirs.orphan)).toBe(false);
    expect(await exists(dirs.oldUnnamed)).toBe(false);
    expect(await exists(dirs.live)).toBe(true);
    expect(await exists(dirs.otherHost)).toBe(true);
    expect(await exists(dirs.unnamed)).toBe(true);
    await rm(root, { recursive: true, force: true });
  });
});

/** What an init segment known to be good declares. */
async function initShape(init: Buffer): Promise<InitExpectation> {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'jitseg-init-')), 'init.mp4');
  await writeFile(file, init);
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,width,height,channels', '-of', 'json', file]);
  const stream = JSON.parse(stdout).streams[0];
  const video = stream.codec_type === 'video';
  const codecs = video ? avcCodecString(init)! : 'mp4a.40.2';
  const timescale = initTimescale(init);
  return video ? { timescale, codecs, video, width: stream.width, height: stream.height } : { timescale, codecs, video, channels: stream.channels };
}

/** The segment with another mfhd sequence number. */
function setSequence(segment: Buffer, sequence: number): Buffer {
  const out = Buffer.from(segment);
  const mfhd = findBoxes(out, ['moof', 'mfhd'])[0]!;
  out.writeUInt32BE(sequence, mfhd.payload + 4);
  return out;
}
