import { cachedMedia } from './media-cache.js';

/**
 * Two different clips with the same geometry: 8 s of 320x240 at 25 fps, a
 * keyframe every 2 s, AAC at 48 kHz; the same frame counts and cut points,
 * different pictures and tone. What a replaced source looks like when the
 * plan's checks cannot tell the difference. Made with ffmpeg's lavfi at test
 * time, cached per machine by recipe (media-cache.ts).
 */

const TWINS = {
  a: { file: 'twin-a-320x240.mp4', video: 'testsrc=size=320x240:rate=25:duration=8', tone: 'sine=frequency=1000:sample_rate=48000:duration=8' },
  b: { file: 'twin-b-320x240.mp4', video: 'testsrc2=size=320x240:rate=25:duration=8', tone: 'sine=frequency=440:sample_rate=48000:duration=8' },
} as const;

function make(which: keyof typeof TWINS): Promise<string> {
  const { file, video, tone } = TWINS[which];
  return cachedMedia({
    file,
    steps: [
      (output) => [
        '-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', tone,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '50', '-keyint_min', '50', '-sc_threshold', '0', '-pix_fmt', 'yuv420p',
        '-c:a', 'aac', '-b:a', '64k', '-movflags', '+faststart', output,
      ],
    ],
  });
}

export async function twinClips(): Promise<{ a: string; b: string }> {
  return { a: await make('a'), b: await make('b') };
}

/** Every hash-addressed file of a content, from its /info: each rendition's init and segments, video and audio. */
export function contentFiles(info: any): string[] {
  const base = `/api/v1/content/${info.hash}`;
  const files: string[] = [];
  for (const r of info.renditions) {
    files.push(`${base}/video/${r.id}/init.mp4`);
    for (let n = 1; n <= info.segments; n++) files.push(`${base}/video/${r.id}/segment_${n}.m4s`);
  }
  for (const a of info.audio) {
    files.push(`${base}/audio/${a.id}/init.mp4`);
    for (let n = 1; n <= a.segments; n++) files.push(`${base}/audio/${a.id}/segment_${n}.m4s`);
  }
  return files;
}
