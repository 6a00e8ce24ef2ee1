import { describe, expect, it } from 'vitest';
import { fragmentDecodeTimes } from '../src/package/decode-times.js';

/** The decode schedule of a re-timed video fragment, on x264's reorder patterns and a VFR one. */

const FRAME = 3754; // 23.976 fps at 90 kHz
const START = 900_000;

const PATTERNS: Record<string, number[]> = {
  'B-pyramid (I0 P4 B2 B1 B3 …)': [0, 4, 2, 1, 3, 8, 6, 5, 7],
  'two B-frames': [0, 3, 1, 2, 6, 4, 5, 8, 7],
  'mixed, ending on a B-frame presented two slots early': [0, 2, 1, 4, 3, 5, 8, 7, 6],
  'no B-frames': [0, 1, 2, 3, 4, 5, 6, 7, 8],
  'one frame': [0],
};

describe.each(Object.entries(PATTERNS))('%s', (_name, slots) => {
  it('decodes the first sample at the earliest presentation, none after its presentation, in order, and ends exactly at the next segment', () => {
    const presentation = slots.map((k) => START + k * FRAME);
    const nextStart = START + slots.length * FRAME;
    const decode = fragmentDecodeTimes(presentation, nextStart);
    const durations = decode.map((time, i) => (decode[i + 1] ?? nextStart) - time);
    expect(decode[0]).toBe(Math.min(...presentation));
    decode.forEach((time, i) => {
      expect(time, `sample ${i} decodes after it is presented`).toBeLessThanOrEqual(presentation[i]!);
      if (i > 0) expect(time, `sample ${i} decodes in order`).toBeGreaterThan(decode[i - 1]!);
    });
    expect(durations.reduce((a, b) => a + b, 0)).toBe(nextStart - START);
    // Presentation intervals end at the next segment's start, none past it.
    expect(Math.max(...presentation.map((time, i) => time + durations[i]!))).toBe(nextStart);
    // Away from the fragment's ends, decode intervals are the frame interval.
    if (slots.length > 6) expect(durations.slice(4, -2)).toEqual(durations.slice(4, -2).map(() => FRAME));
  });
});

it('keeps VFR gaps: a 0.5 s hole in presentation stays a long decode interval, and no sample decodes late', () => {
  const presentation = [0, 3, 1, 2, 20, 18, 19, 21].map((k) => START + k * FRAME);
  const nextStart = START + 22 * FRAME;
  const decode = fragmentDecodeTimes(presentation, nextStart);
  decode.forEach((time, i) => expect(time).toBeLessThanOrEqual(presentation[i]!));
  expect(decode[0]).toBe(START);
});

it('refuses a next start before the last frame', () => {
  expect(() => fragmentDecodeTimes([START, START + FRAME], START + FRAME)).toThrow(/before this one's last frame/);
});
