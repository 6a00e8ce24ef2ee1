/**
 * An init segment is packaged from a two-frame encode (video) or two AAC
 * frames of silence (audio), not from segment 1's encode: an init request
 * runs no segment encode, the init's bytes are the same whichever file is
 * asked for first, and a stream whose init was made so plays frame-exact and
 * gapless (every segment's stsd was checked against it before it was stored).
 *
 * Encodes are counted on /metrics: jitseg_init_encodes_total (init encodes)
 * and jitseg_transcodes_total (segment encodes). No durations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBoxes } from '../src/package/fmp4.js';
import { corpusSource, decodeFrames, expectContinuousAudio, expectSameVideo, sourceTruth, type SourceTruth } from './support/conformance.js';
import { CORPUS } from './support/corpus.js';
import { mediaFolder } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const item = (file: string) => CORPUS.find((c) => c.file === file)!;
/** 23.976 fps with B-pyramid: segments start with frames of 3753 or 3754 ticks, so an init packaged from whichever segment came first differed (trex). */
const BPYRAMID = 'bpyramid-23976.mp4';
const VFR = 'vfr.mp4';

let media: string;
const servers: TestServer[] = [];

async function origin(): Promise<TestServer> {
  const server = await testServer(media, { ...NO_PREFETCH, encoder: encoderWith({ preset: 'ultrafast' }) });
  servers.push(server);
  return server;
}

/** The content's API base and its first video and audio renditions' ids. */
async function content(server: TestServer, file: string) {
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json();
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  const base = `${server.url}/api/v1/content/${registered.hash}`;
  return { base, video: info.renditions[0].id as string, audio: info.audio[0].id as string, segments: info.segments as number };
}

async function get(url: string): Promise<Buffer> {
  const response = await fetch(url);
  expect(response.status, url).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

async function encodes(server: TestServer) {
  const metrics = await scrape(server.url);
  return { inits: metricValue(metrics, 'jitseg_init_encodes_total'), segments: metricValue(metrics, 'jitseg_transcodes_total') };
}

beforeAll(async () => {
  media = await mediaFolder({ [BPYRAMID]: await corpusSource(item(BPYRAMID)), [VFR]: await corpusSource(item(VFR)) });
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('init segments without segment 1', () => {
  it('an init request encodes an init and no segment, video and audio', async () => {
    const server = await origin();
    const { base, video, audio } = await content(server, BPYRAMID);
    const videoInit = await get(`${base}/video/${video}/init.mp4`);
    expect(await encodes(server)).toEqual({ inits: 1, segments: 0 });
    const audioInit = await get(`${base}/audio/${audio}/init.mp4`);
    expect(await encodes(server)).toEqual({ inits: 2, segments: 0 });
    for (const init of [videoInit, audioInit]) expect(findBoxes(init, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'])).toHaveLength(1);
    // Segment 1 afterwards is one segment encode: the init is not made again.
    await get(`${base}/video/${video}/segment_1.m4s`);
    expect(await encodes(server)).toEqual({ inits: 2, segments: 1 });
  }, 120_000);

  it('the init bytes are the same whether the init or a later segment is asked for first, on fresh caches', async () => {
    const [initFirst, segmentFirst] = [await origin(), await origin()];
    const a = await content(initFirst, BPYRAMID);
    const b = await content(segmentFirst, BPYRAMID);
    expect(b).toEqual({ ...a, base: b.base });
    // The last segment: its first frame is 3753 ticks where segment 1's is 3754 (an init packaged from it differed).
    const last = `segment_${a.segments}.m4s`;
    expect(a.segments).toBeGreaterThanOrEqual(2);
    const made: Record<string, Buffer[]> = {};
    for (const kind of ['video', 'audio'] as const) {
      const aInit = await get(`${a.base}/${kind}/${a[kind]}/init.mp4`);
      const aSegment = await get(`${a.base}/${kind}/${a[kind]}/${last}`);
      const bSegment = await get(`${b.base}/${kind}/${b[kind]}/${last}`);
      const bInit = await get(`${b.base}/${kind}/${b[kind]}/init.mp4`);
      expect(bSegment.equals(aSegment), `${kind} ${last}`).toBe(true);
      made[kind] = [aInit, bInit];
    }
    expect(made.video![1]!.equals(made.video![0]!), 'video init').toBe(true);
    expect(made.audio![1]!.equals(made.audio![0]!), 'audio init').toBe(true);
    // Each origin made each init once, the same way, and encoded only the last segment of each kind.
    for (const server of [initFirst, segmentFirst]) expect(await encodes(server)).toEqual({ inits: 2, segments: 2 });
  }, 240_000);

  for (const file of [BPYRAMID, VFR]) {
    it(`${file} plays frame-exact and gapless through HLS with inits made from a few frames`, async () => {
      const server = await origin();
      const { base, video, audio } = await content(server, file);
      // The inits first: the stream's inits are the shortcut's, and every segment was checked against them.
      await get(`${base}/video/${video}/init.mp4`);
      await get(`${base}/audio/${audio}/init.mp4`);
      expect(await encodes(server)).toEqual({ inits: 2, segments: 0 });
      const source: SourceTruth = await sourceTruth(await corpusSource(item(file)), 1);
      expectSameVideo(`${file} HLS video`, await decodeFrames(`${base}/master.m3u8`, '0:p:0:v'), source.video);
      expectContinuousAudio(`${file} HLS audio`, await decodeFrames(`${base}/master.m3u8`, '0:p:0:a'), source.audio[0]!);
      expect((await encodes(server)).inits, 'no init made twice').toBe(2);
    }, 240_000);
  }
});
