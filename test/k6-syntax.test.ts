import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module with JSDoc types, no declaration file
import { K6_SCRIPTS, newerSyntax } from '../bench/k6/syntax.mjs';

/** The k6 scripts run as shipped on k6 releases back to v0.46: no syntax newer than ES2017 (bench/k6/syntax.mjs). */

const K6_DIR = fileURLToPath(new URL('../bench/k6/', import.meta.url));
const scratch = await mkdtemp(path.join(os.tmpdir(), 'jitseg-k6-syntax-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe('k6 scripts', () => {
  it.each(K6_SCRIPTS as string[])('%s needs nothing newer than ES2017', (file) => {
    expect(newerSyntax(path.join(K6_DIR, file))).toEqual([]);
  });

  it('the check finds what k6 v0.48 rejects', async () => {
    const file = path.join(scratch, 'newer.js');
    await writeFile(file, 'export function f(a) {\n  const b = a ?? 1;\n  return a?.x + b;\n}\n');
    expect(newerSyntax(file)).toEqual(['const b = a ?? 1;', 'return a?.x + b;']);
    await writeFile(file, 'export const x = await Promise.resolve(1);\n');
    expect(() => newerSyntax(file)).toThrow(/Top-level await/);
  });
});
