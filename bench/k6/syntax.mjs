// Which lines of the k6 scripts use syntax newer than the oldest k6 they are meant for.
//
// k6 before v0.52 ran scripts through its own Babel and goja, which reject ES2020 syntax
// (`??`, `?.`: k6 v0.48 fails with "SyntaxError … Unexpected token"). The scripts are shipped as
// they are, with no build step, so they must stay within ES2017. The check: esbuild prints each
// script once as it is (esnext) and once lowered to ES2017; any line that differs uses syntax
// the lowering had to rewrite.
import { readFileSync } from 'node:fs';
import { transformSync } from 'esbuild';

/** The scripts k6 loads (entry points and the modules they import). */
export const K6_SCRIPTS = ['lib.js', 'client.js', 'playback.js', 'seek.js', 'cdn-pull.js'];
export const K6_TARGET = 'es2017';

/**
 * Lines (as esbuild prints them) that lowering `file` to ES2017 changes; empty when it needs no
 * newer syntax.
 * @param {string} file
 * @returns {string[]}
 */
export function newerSyntax(file) {
  const source = readFileSync(file, 'utf8');
  const print = (/** @type {string} */ target) => transformSync(source, { target, format: 'esm', loader: 'js', sourcefile: file }).code.split('\n');
  const asIs = print('esnext');
  const lowered = new Set(print(K6_TARGET));
  return asIs.filter((line) => !lowered.has(line)).map((line) => line.trim());
}
