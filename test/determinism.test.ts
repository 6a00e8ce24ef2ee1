/**
 * Same URL, same bytes. Segment URLs are cached for a year (strong ETag,
 * Range), so every origin must make exactly the same bytes for a segment:
 * on any instance, whatever its thread and worker settings and load, and
 * after any eviction or retry. libx264 with more than one thread and VBV made
 * different bytes on every run; it now always runs one thread.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig, type Profile } from '../src/config/config.js';
import { makePlan } from '../src/plan/plan.js';
import { probeSource } from '../src/probe/index.js';
import { encodeVideoSpan } from '../src/transcode/transcode.js';
import { mediaFolder, testSource } from './support/media.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Runs the tasks, at most `limit` at a time. */
async function bounded<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
  return results;
}

/**
 * Segments compared: the first, the second (the first cut between keyframes), one in the middle and the last (no
 * end trim). Thread-dependent bytes showed in every segment of an encode; four of the eight keep the suite short.
 */
const COMPARED_SEGMENTS = [1, 2, 5, 8];

/** The init and the compared segments of every rendition (video and audio) a content's /info lists. */
function comparedFiles(info: any): string[] {
  const files: string[] = [];
  for (const r of info.renditions) {
    files.push(`video/${r.id}/init.mp4`);
    for (const n of COMPARED_SEGMENTS) files.push(`video/${r.id}/segment_${n}.m4s`);
  }
  for (const a of info.audio) {
    files.push(`audio/${a.id}/init.mp4`);
    for (const n of COMPARED_SEGMENTS) files.push(`audio/${a.id}/segment_${n}.m4s`);
  }
  return files;
}

/**
 * A three-rendition ladder on main1080p's streams at 360p: the cuts, the VBV rate control and x264's threading are
 * those of any size (with x264's thread pin removed, this ladder's bytes differ between the origins, as 1080p's
 * did), and three origins encode a ninth of the pixels.
 */
const PROFILES: Profile[] = [
  { name: '360p', width: 640, height: 360, bitrate: 900, quality: 23 },
  { name: '240p', width: 426, height: 240, bitrate: 400, quality: 23 },
  { name: '180p', width: 320, height: 180, bitrate: 250, quality: 23 },
];

describe('deterministic encodes', () => {
  it('three clean origins with different thread and worker settings serve the same bytes for the init and four segments of every rendition', async () => {
    const media = await mediaFolder({ 'clip.mp4': await testSource('main360p') });
    // Decoder threads auto / 1 / 3 and one or two encodes at once: none of it may show in the bytes.
    // ultrafast keeps the run short; x264 with VBV and threads differed run to run under every preset.
    const settings = [
      { threads: 0, workers: 2 },
      { threads: 1, workers: 1 },
      { threads: 3, workers: 2 },
    ];
    const origins: TestServer[] = [];
    try {
      for (const s of settings) origins.push(await testServer(media, { ...NO_PREFETCH, profiles: PROFILES, encoder: encoderWith({ preset: 'ultrafast', ...s }) }));
      const infos = await Promise.all(
        origins.map(async (origin) => {
          const registered = await (await fetch(`${origin.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
          return { hash: registered.hash as string, info: await (await fetch(`${origin.url}${registered.urls.info}`)).json() };
        }),
      );
      // Same content, same URLs on every origin (thread settings are not part of a rendition's id).
      const files = comparedFiles(infos[0]!.info);
      for (const { hash, info } of infos) {
        expect(hash).toBe(infos[0]!.hash);
        expect(comparedFiles(info)).toEqual(files);
      }
      expect(infos[0]!.info.renditions.map((r: any) => r.name)).toEqual(['360p', '240p', '180p']);
      expect(infos[0]!.info.segments).toBe(8);
      for (const audio of infos[0]!.info.audio) expect(audio.segments).toBe(8);
      expect(files.length).toBe(4 * (1 + COMPARED_SEGMENTS.length));

      // All three origins encode at once, each with as many requests in flight as it has workers.
      const digests = await Promise.all(
        origins.map((origin, i) =>
          bounded(
            settings[i]!.workers,
            files.map((file) => async () => {
              const response = await fetch(`${origin.url}/api/v1/content/${infos[0]!.hash}/${file}`);
              const body = new Uint8Array(await response.arrayBuffer());
              return `${file} ${response.status} ${body.length} ${sha256(body)}`;
            }),
          ),
        ),
      );
      for (const line of digests[0]!) expect(line).toMatch(/ 200 [1-9]\d* [0-9a-f]{64}$/);
      expect(digests[1]).toEqual(digests[0]);
      expect(digests[2]).toEqual(digests[0]);
    } finally {
      await Promise.all(origins.map((origin) => origin.close()));
    }
    // Half the 30 s source encoded and packaged three times: more than the default limit on a loaded 2-core machine.
  }, 420_000);

  it('a retry, which seeks 30 s further back, encodes the same bytes as the first try', async () => {
    const source = await testSource('main1080p');
    const plan = makePlan(await probeSource(source), { ...defaultStreamingConfig(), encoder: encoderWith({ preset: 'ultrafast' }) });
    const rendition = plan.renditions.find((r) => r.name === '720p')!;
    // Segment 7 starts at 20 s: the first try seeks to its keyframe, the retry to the start of the file.
    const segment = plan.videoSegments[6]!;
    expect(segment.startPts / plan.sourceTimescale).toBeGreaterThan(19);
    const dirs = [await mkdtemp(path.join(os.tmpdir(), 'jitseg-det-')), await mkdtemp(path.join(os.tmpdir(), 'jitseg-det-'))];
    try {
      // Side by side: two processes with nothing shared but the source file.
      const [first, retry] = await Promise.all([
        encodeVideoSpan(source, plan, rendition, segment, dirs[0]!),
        encodeVideoSpan(source, plan, rendition, segment, dirs[1]!, { extraSeekBackSeconds: 30 }),
      ]);
      const [a, b] = await Promise.all([readFile(first.tsPath), readFile(retry.tsPath)]);
      expect(a.length).toBeGreaterThan(10_000);
      expect(sha256(b)).toBe(sha256(a));
    } finally {
      await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
    }
  });
});
