import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import { etagOf, type CachedBody } from '../body-cache.js';
import type { AppEnv } from '../deps.js';
import { UI_PATHS } from '../public-paths.js';
import { sendBytes } from '../serve-bytes.js';

/** The web UI: plain files, hls.js from our own node_modules; nothing from the internet. Public (see public-paths.ts). */

const require = createRequire(import.meta.url);
const UI_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'ui');
const UI_FILES: Array<[route: string, file: string, type: string]> = [
  [UI_PATHS.index, path.join(UI_DIR, 'index.html'), 'text/html; charset=utf-8'],
  [UI_PATHS.script, path.join(UI_DIR, 'app.js'), 'text/javascript; charset=utf-8'],
  [UI_PATHS.style, path.join(UI_DIR, 'style.css'), 'text/css; charset=utf-8'],
  [UI_PATHS.hls, require.resolve('hls.js/dist/hls.min.js'), 'text/javascript; charset=utf-8'],
];

export function uiRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const read = new Map<string, Promise<CachedBody>>();
  /** A UI file, read once. */
  const uiFile = (file: string): Promise<CachedBody> => {
    let cached = read.get(file);
    if (!cached) read.set(file, (cached = readFile(file).then((body) => ({ body, etag: etagOf(body) }))));
    return cached;
  };
  for (const [route, file, type] of UI_FILES) {
    app.get(route, async (c) => sendBytes(c, { ...(await uiFile(file)), contentType: type, cacheControl: 'no-cache' }));
  }
  return app;
}
