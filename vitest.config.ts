import { defineConfig } from 'vitest/config';
import LongestFirstSequencer from './test/support/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real ffmpeg encodes: generous per-test limits, two files at a time on two cores.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 2,
    // Concurrent tests in one file (level-switch plays six pages at once); no other file has more than four.
    maxConcurrency: 6,
    // Longest files first (test/support/sequencer.ts): no long file starts last beside an idle worker.
    sequence: { sequencer: LongestFirstSequencer },
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
