/**
 * Crafted sources, made at test time in a few seconds: files that claim
 * what their bytes cannot back, present nothing, last zero seconds or ten
 * hours, lie about their size or do not decode. Used by
 * test/hostile-media.test.ts and bench/hostile-probe.ts.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { child, craftMp4, fullBoxU32, stblOf, trakOf, type Mp4Box } from './craft-mp4.js';
import { exec } from './media.js';

/** What the samples tables of the crafted files claim. */
export const CLAIMED_SAMPLES = 200_000_000;

export interface HostileFile {
  name: string;
  /** 'refused': 415 with a reason; 'manifest': a valid manifest (and a playable first segment). */
  expect: 'refused' | 'manifest';
  why: string;
}

export const HOSTILE_FILES: readonly HostileFile[] = [
  { name: 'claimed-samples.mp4', expect: 'refused', why: 'stsz, stco, stsc and stts claim 200 million samples in a few KB' },
  { name: 'constant-size-claim.mp4', expect: 'refused', why: 'a constant-size stsz claims 200 million 1-byte samples in a small file' },
  { name: 'empty-edit.mp4', expect: 'refused', why: 'a second edit list (the one ffmpeg reads) starts after the last frame: it presents nothing' },
  { name: 'zero-duration.mp4', expect: 'refused', why: 'every stts delta is 0: the video lasts 0 s' },
  { name: 'garbage-mdat.mp4', expect: 'refused', why: 'a valid moov over noise: no frame decodes' },
  { name: 'ten-hours-1x1.mkv', expect: 'refused', why: '10 h of 1×1 at 1 fps: below the smallest picture (refused before the whole-file scan)' },
  { name: 'ten-hours-sparse.mkv', expect: 'refused', why: '10 h of 16×16 at one frame a minute: below the slowest frame rate' },
  { name: 'header-16k.mp4', expect: 'manifest', why: 'a 64×64 H.264 stream whose avc1 and tkhd claim 16384×16384' },
  { name: 'ten-hours-16x16.mkv', expect: 'manifest', why: '10 h of 16×16 at 1 fps: odd, but playable' },
];

async function ffmpeg(args: string[]): Promise<void> {
  await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { maxBuffer: 1 << 24 });
}

const setU32 = (box: Mp4Box, offset: number, value: number) => box.payload!.writeUInt32BE(value >>> 0, offset);

/** Writes every HOSTILE_FILES entry into `dir`. */
export async function makeHostileMedia(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const base = path.join(dir, '.base-64x64.mp4');
  // No B-frames (no ctts), moov after the mdat: what craftMp4 edits.
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=25:duration=2', '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '0', '-g', '25', '-pix_fmt', 'yuv420p', base]);
  const video = (boxes: Mp4Box[]) => stblOf(trakOf(boxes, 'vide'));
  const out = (name: string) => path.join(dir, name);

  await craftMp4(base, out('claimed-samples.mp4'), (boxes) => {
    const stbl = video(boxes);
    setU32(child(stbl, 'stsz'), 8, CLAIMED_SAMPLES); // sample_count, sizes table left as it is
    setU32(child(stbl, 'stco'), 4, CLAIMED_SAMPLES); // entry_count
    setU32(child(stbl, 'stsc'), 12, CLAIMED_SAMPLES); // samples_per_chunk of the first entry
    setU32(child(stbl, 'stts'), 8, CLAIMED_SAMPLES); // sample_count of the first entry
  });
  await craftMp4(base, out('constant-size-claim.mp4'), (boxes) => {
    const stbl = video(boxes);
    child(stbl, 'stsz').payload = fullBoxU32(0, [1, CLAIMED_SAMPLES]);
    setU32(child(stbl, 'stsc'), 12, CLAIMED_SAMPLES); // samples_per_chunk
  });
  await craftMp4(base, out('empty-edit.mp4'), (boxes) => {
    const trak = trakOf(boxes, 'vide');
    // One edit: 2 s (movie timescale 1000) of media from tick 10^9, long after the last frame; rate 1.0.
    const edts: Mp4Box = { type: 'edts', children: [{ type: 'elst', payload: fullBoxU32(0, [1, 2000, 1_000_000_000, 0x00010000]) }] };
    trak.children!.splice(trak.children!.findIndex((b) => b.type === 'mdia'), 0, edts);
  });
  await craftMp4(base, out('zero-duration.mp4'), (boxes) => {
    const stts = child(video(boxes), 'stts');
    const entries = stts.payload!.readUInt32BE(4);
    for (let i = 0; i < entries; i++) setU32(stts, 8 + 8 * i + 4, 0);
  });
  await craftMp4(base, out('garbage-mdat.mp4'), (boxes) => {
    const mdat = boxes.find((b) => b.type === 'mdat')!;
    let seed = 12345;
    for (let i = 0; i < mdat.payload!.length; i++) mdat.payload![i] = (seed = (seed * 1103515245 + 12345) % 2147483648) >> 16;
  });
  await craftMp4(base, out('header-16k.mp4'), (boxes) => {
    const trak = trakOf(boxes, 'vide');
    // avc1 sample entry: width and height at 40 and 42 of the stsd body; tkhd (v0): 16.16 width and height at 76 and 80.
    const stsd = child(stblOf(trak), 'stsd').payload!;
    stsd.writeUInt16BE(16384, 40);
    stsd.writeUInt16BE(16384, 42);
    setU32(child(trak, 'tkhd'), 76, 16384 * 65536);
    setU32(child(trak, 'tkhd'), 80, 16384 * 65536);
  });
  await ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=1x1:r=1:d=36000,format=gray', '-c:v', 'ffv1', out('ten-hours-1x1.mkv')]);
  await ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=16x16:r=1/60:d=36000,format=gray', '-c:v', 'ffv1', out('ten-hours-sparse.mkv')]);
  await ffmpeg(['-f', 'lavfi', '-i', 'color=c=gray:s=16x16:r=1:d=36000,format=gray', '-c:v', 'ffv1', out('ten-hours-16x16.mkv')]);
}

/** Copies one crafted file under a new name (a fresh path: nothing remembered about it). */
export async function copyHostile(dir: string, name: string, copyName: string): Promise<string> {
  const target = path.join(dir, copyName);
  await copyFile(path.join(dir, name), target);
  return target;
}
