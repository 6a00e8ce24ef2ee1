import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../process/runner.js';

const VIDEO_EXTENSIONS = /\.(mp4|m4v|mov|mkv|webm|ts|m2ts|mts|avi|flv|wmv|mpg|mpeg|3gp|ogv)$/i;

/** Relative paths of the media files under a folder, recursively. */
export async function listMediaFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && VIDEO_EXTENSIONS.test(e.name))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

/** A 30 s 1080p demo clip with a tone, so a newcomer with an empty media folder sees a stream at once. */
export async function generateDemoClip(mediaDir: string): Promise<string> {
  const name = 'demo.mp4';
  await run('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=24000/1001:duration=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:beep_factor=4:sample_rate=48000:duration=30',
    '-c:v', 'libx264', '-preset', 'veryfast', '-g', '96', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart',
    '-y', path.join(mediaDir, name),
  ], { timeoutMs: 300_000 });
  return name;
}
