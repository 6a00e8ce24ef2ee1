import { FRAME_CODE } from './corpus.js';
import { exec } from './media.js';

/** The frame numbers a decode of `file` shows, one per decoded frame, read from the FRAME_CODE barcode. */
export async function frameNumbers(file: string): Promise<number[]> {
  const { width, block, bits } = FRAME_CODE;
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-i', file, '-vf', `crop=${width}:${block}:0:0`, '-pix_fmt', 'gray', '-f', 'rawvideo', '-'], {
    encoding: 'buffer',
    maxBuffer: 1 << 26,
  });
  const raw = stdout as unknown as Buffer;
  const frameBytes = width * block;
  const numbers: number[] = [];
  for (let offset = 0; offset + frameBytes <= raw.length; offset += frameBytes) {
    let n = 0;
    for (let k = 0; k < bits; k++) if (raw[offset + (block / 2) * width + k * block + block / 2]! > 128) n |= 1 << k;
    numbers.push(n);
  }
  return numbers;
}
