import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { cachedMedia } from './media-cache.js';

export const exec = promisify(execFile);

/** 30 s at 23.976 fps with B-frames and keyframes at irregular times (0, 1.5, 4.2 … 28 s), AAC 44.1 kHz stereo. */
function bframeSource(size: string): string[] {
  return [
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=24000/1001:duration=30`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:beep_factor=4:sample_rate=44100:duration=30',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '3', '-b_strategy', '0',
    '-x264-params', 'keyint=150:min-keyint=10:scenecut=0',
    '-force_key_frames', '0,1.5,4.2,7,11.3,12,17.9,20,24.5,28',
    '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
  ];
}

/** Test sources, made with ffmpeg's lavfi generators at test time (cached per machine by recipe: media-cache.ts). */
export const SOURCES = {
  /** 30 s 1080p 23.976 fps H.264 with B-frames and irregular keyframes, AAC 44.1 kHz stereo. */
  main1080p: { file: 'main-1080p-23976.mp4', args: bframeSource('1920x1080') },
  /** main1080p's streams at 640x360: for tests of the cut and timing path whose renditions are all smaller anyway. */
  main360p: { file: 'main-360p-23976.mp4', args: bframeSource('640x360') },
  /** 8 s 320x240 25 fps, small and quick: for API and error tests. */
  small: {
    file: 'small-320x240.mp4',
    args: [
      '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=8',
      '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000:duration=8',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '64k', '-movflags', '+faststart',
    ],
  },
  /** 60 s 640x360 25 fps with a tone: what the browser players stream. */
  browser360p: {
    file: 'browser-640x360-25.mp4',
    args: [
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25:duration=60',
      '-f', 'lavfi', '-i', 'sine=frequency=660:beep_factor=2:sample_rate=48000:duration=60',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '96k', '-ac', '2', '-movflags', '+faststart',
    ],
  },
  /** 12 s 640x360 25 fps with a tone: protected-content tests (small: every segment is fetched and decoded). */
  drm360p: {
    file: 'drm-640x360-25-12s.mp4',
    args: [
      '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25:duration=12',
      '-f', 'lavfi', '-i', 'sine=frequency=660:beep_factor=2:sample_rate=48000:duration=12',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '96k', '-ac', '2', '-movflags', '+faststart',
    ],
  },
} as const;

export type SourceName = keyof typeof SOURCES;

export async function testSource(name: SourceName): Promise<string> {
  const { file, args } = SOURCES[name];
  return cachedMedia({ file, steps: [(output) => [...args, output]] });
}

/** A fresh media folder holding copies of the given sources. */
export async function mediaFolder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-media-'));
  for (const [name, source] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await copyFile(source, path.join(dir, name));
  }
  return dir;
}

export async function ffprobeJson(args: string[]): Promise<any> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-print_format', 'json', ...args], { maxBuffer: 1 << 28 });
  return JSON.parse(stdout);
}
