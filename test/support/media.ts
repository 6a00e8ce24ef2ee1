import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

export const exec = promisify(execFile);

const MEDIA_CACHE = path.join(os.tmpdir(), 'jitseg-test-media');

/** Test sources, made with ffmpeg's lavfi generators at test time (cached per machine, written atomically). */
export const SOURCES = {
  /** 30 s 1080p 23.976 fps H.264 with B-frames and irregular keyframes, AAC 44.1 kHz stereo. */
  main1080p: {
    file: 'main-1080p-23976.mp4',
    args: [
      '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=24000/1001:duration=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:beep_factor=4:sample_rate=44100:duration=30',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-bf', '3', '-b_strategy', '0',
      '-x264-params', 'keyint=150:min-keyint=10:scenecut=0',
      '-force_key_frames', '0,1.5,4.2,7,11.3,12,17.9,20,24.5,28',
      '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-ac', '2',
    ],
  },
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
  const target = path.join(MEDIA_CACHE, file);
  if (existsSync(target)) return target;
  await mkdir(MEDIA_CACHE, { recursive: true });
  const temp = `${target}.${process.pid}.tmp.mp4`;
  await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args, temp], { maxBuffer: 1 << 24 });
  await rename(temp, target);
  return target;
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
