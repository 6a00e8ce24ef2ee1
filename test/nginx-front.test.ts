/**
 * The warm path, both ways it is served. (1) deploy/nginx/jitseg.conf, the
 * shipped config itself (only its three marked values replaced), run by
 * Debian's nginx on loopback in front of a real origin: a miss is answered by
 * jitseg, a made segment from the cache directory, byte-identical, with
 * jitseg's caching and CORS headers; manifests and URLs with a query go to
 * jitseg; no spelling of a path sent over a raw socket gets a file that is
 * not a segment. (2) The origin's own warm-segment front
 * (src/http/segment-front.ts) answers exactly as the app does: the same
 * target with an escape in its query (which the front leaves to the app)
 * gets the same status, headers and bytes for 200, 206, 304 and HEAD.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mediaFolder, testSource } from './support/media.js';
import { rawRequest } from './support/raw-http.js';
import { NO_PREFETCH, testServer, type TestServer } from './support/server.js';
import { UrlSigner } from '../src/http/signing.js';

const DEPLOY = fileURLToPath(new URL('../deploy/nginx/', import.meta.url));
/** jitseg's ETag (a hash of the bytes) and nginx's (mtime-size in hex): which server answered. */
const JITSEG_ETAG = /^"[A-Za-z0-9_-]{27}"$/;
const NGINX_ETAG = /^"[0-9a-f]+-[0-9a-f]+"$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';

let server: TestServer;
let nginx: ChildProcess;
let nginxUrl: string;
let workDir: string;
let hash: string;
let video: string;
let audio: string;

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** The shipped config with its marked values set; fails if one of them is no longer there. */
async function shippedConfig(originPort: number, port: number, cacheDir: string): Promise<string> {
  let conf = await readFile(path.join(DEPLOY, 'jitseg.conf'), 'utf8');
  const replace = (from: string, to: string) => {
    expect(conf).toContain(from);
    conf = conf.split(from).join(to);
  };
  replace('server 127.0.0.1:8080;', `server 127.0.0.1:${originPort};`);
  replace('listen 8081;', `listen 127.0.0.1:${port};`);
  replace('root /var/cache/jitseg;', `root ${cacheDir};`);
  replace('/etc/nginx/jitseg-', DEPLOY + 'jitseg-');
  return conf;
}

async function startNginx(): Promise<void> {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-nginx-front-'));
  const port = await freePort();
  const temp = (name: string) => path.join(workDir, name);
  const site = await shippedConfig(server.port, port, server.cacheDir);
  await writeFile(
    temp('nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      // Workers of a root master switch to an unprivileged user, who cannot read the 0700 temp cache dir.
      ...(process.getuid?.() === 0 ? ['user root root;'] : []),
      `pid ${temp('nginx.pid')};`,
      `error_log ${temp('error.log')} warn;`,
      'events { worker_connections 256; }',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `  ${name}_temp_path ${temp(name)};`),
      site,
      '}',
    ].join('\n'),
  );
  nginx = spawn('nginx', ['-p', workDir, '-e', temp('error.log'), '-c', temp('nginx.conf')], { stdio: ['ignore', 'ignore', 'inherit'] });
  nginxUrl = `http://127.0.0.1:${port}`;
  // Ready once it answers; a config it refuses makes it exit, and the error log says why.
  for (;;) {
    if (nginx.exitCode !== null) throw new Error(`nginx exited: ${await readFile(temp('error.log'), 'utf8').catch(() => '')}`);
    const up = await fetch(`${nginxUrl}/healthz`).then(
      () => true,
      () => false,
    );
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  const mediaDir = await mediaFolder({ 'small.mp4': await testSource('small') });
  server = await testServer(mediaDir, NO_PREFETCH);
  const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'small.mp4' }) })).json();
  hash = registered.hash;
  const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
  video = `/api/v1/content/${hash}/video/${info.renditions[0].id}`;
  audio = `/api/v1/content/${hash}/audio/${info.audio[0].id}`;
  await startNginx();
});

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    const exited = new Promise((resolve) => nginx.once('exit', resolve));
    nginx.kill('SIGTERM');
    await exited;
  }
  await server?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Waits until the origin has stored a file (it may answer before the rename). */
async function stored(urlPath: string): Promise<string> {
  const file = path.join(server.cacheDir, urlPath.slice('/api/v1/content/'.length));
  while (!(await stat(file).then((s) => s.isFile(), () => false))) await new Promise((resolve) => setTimeout(resolve, 20));
  return file;
}

describe('the nginx front (deploy/nginx/jitseg.conf)', () => {
  it('a miss is answered by jitseg, then the made file from disk: the same bytes, jitseg\'s caching and CORS headers', async () => {
    // Each rendition's init is made with its first segment: no miss of its own.
    for (const [urlPath, type, missFirst] of [
      [`${video}/segment_2.m4s`, 'video/mp4', true],
      [`${video}/init.mp4`, 'video/mp4', false],
      [`${audio}/segment_1.m4s`, 'audio/mp4', true],
      [`${audio}/init.mp4`, 'audio/mp4', false],
    ] as const) {
      const miss = missFirst ? await fetch(`${nginxUrl}${urlPath}`) : undefined;
      if (miss) {
        expect(miss.status).toBe(200);
        expect(miss.headers.get('etag')).toMatch(JITSEG_ETAG);
      }
      const onDisk = await readFile(await stored(urlPath));
      const bytes = miss ? Buffer.from(await miss.arrayBuffer()) : Buffer.from(await (await fetch(`${server.url}${urlPath}`)).arrayBuffer());
      expect(onDisk.equals(bytes)).toBe(true);

      const hit = await fetch(`${nginxUrl}${urlPath}`, { headers: { 'X-Request-Id': 'front-test-1' } });
      expect(hit.status).toBe(200);
      expect(hit.headers.get('etag')).toMatch(NGINX_ETAG);
      expect(Buffer.from(await hit.arrayBuffer()).equals(bytes)).toBe(true);
      expect(hit.headers.get('content-type')).toBe(type);
      expect(hit.headers.get('content-length')).toBe(String(bytes.length));
      expect(hit.headers.get('cache-control')).toBe(IMMUTABLE);
      expect(hit.headers.get('accept-ranges')).toBe('bytes');
      expect(hit.headers.get('access-control-allow-origin')).toBe('*');
      const fromOrigin = await fetch(`${server.url}${urlPath}`, { method: 'HEAD' });
      for (const name of ['access-control-expose-headers', 'vary', 'cache-control', 'content-type']) expect(hit.headers.get(name), name).toBe(fromOrigin.headers.get(name));
      expect(hit.headers.get('vary')).toBe('Origin');
      expect(hit.headers.get('x-request-id')).toBe('front-test-1');
      expect(hit.headers.get('last-modified')).toBeNull();
    }
  });

  it('a disk hit answers Range (206, 416), If-None-Match (304) and HEAD as jitseg does', async () => {
    const urlPath = `${video}/segment_2.m4s`;
    const whole = await readFile(await stored(urlPath));
    const etag = (await fetch(`${nginxUrl}${urlPath}`, { method: 'HEAD' })).headers.get('etag')!;
    expect(etag).toMatch(NGINX_ETAG);
    const part = await fetch(`${nginxUrl}${urlPath}`, { headers: { Range: 'bytes=100-1099' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-1099/${whole.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(whole.subarray(100, 1100))).toBe(true);
    const tail = await fetch(`${nginxUrl}${urlPath}`, { headers: { Range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(whole.subarray(whole.length - 10))).toBe(true);
    expect((await fetch(`${nginxUrl}${urlPath}`, { headers: { Range: `bytes=${whole.length}-` } })).status).toBe(416);
    const notModified = await fetch(`${nginxUrl}${urlPath}`, { headers: { 'If-None-Match': etag } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('cache-control')).toBe(IMMUTABLE);
    const head = await fetch(`${nginxUrl}${urlPath}`, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(whole.length));
  });

  it('manifests, URLs with a query and other methods go to jitseg', async () => {
    const master = await fetch(`${nginxUrl}/api/v1/content/${hash}/master.m3u8`);
    expect(master.status).toBe(200);
    expect(await master.text()).toContain('#EXTM3U');
    const withQuery = await fetch(`${nginxUrl}${video}/segment_2.m4s?exp=1&sig=x`);
    expect(withQuery.status).toBe(200);
    expect(withQuery.headers.get('etag')).toMatch(JITSEG_ETAG);
    const post = await fetch(`${nginxUrl}${video}/segment_2.m4s`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(404);
    expect(post.headers.get('content-type')).toMatch(/application\/json/);
  });

  it('no spelling of a path, sent over a raw socket, gets a file that is not a made segment', async () => {
    const segment = await readFile(await stored(`${video}/segment_2.m4s`));
    const init = await readFile(await stored(`${video}/init.mp4`));
    const audioSegment = await readFile(await stored(`${audio}/segment_1.m4s`));
    const secrets = [await readFile(path.join(server.cacheDir, hash, 'metadata.json')), Buffer.from('root:x:0:0')];
    const base = `/api/v1/content/${hash}`;
    const rendition = video.split('/').pop()!;
    const targets = [
      `${video}/../../metadata.json`,
      `${video}/..%2f..%2fmetadata.json`,
      `${video}/%2e%2e/%2e%2e/metadata.json`,
      `${video}/%252e%252e%252fmetadata.json`,
      `${video}/..\\..\\metadata.json`,
      `${video}/encoder`,
      `${video}/segment_2.m4s/../../../metadata.json`,
      `${base}/video/${rendition}/../../../../../../../../etc/passwd`,
      `${base}/video/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd%00.m4s`,
      `${base}/video/${rendition}/segment_2.m4s%00.json`,
      `${base}//video//${rendition}//segment_2.m4s`,
      `/api/v1/content/${hash}/metadata.json`,
      `/api/v1/content/../../../etc/passwd`,
      `/${hash}/metadata.json`,
      `/${hash}/video/${rendition}/segment_2.m4s`,
    ];
    for (const target of targets) {
      const response = await rawRequest(nginxUrl, target);
      for (const secret of secrets) expect(response.body.includes(secret), target).toBe(false);
      if (response.status === 200) {
        // Only a made file, and only where its own URL would have found it (nginx or jitseg folding the spelling).
        expect([segment, init, audioSegment].some((file) => file.equals(response.body)), target).toBe(true);
      } else {
        expect(response.status, target).toBeGreaterThanOrEqual(400);
      }
    }
  });
});

describe('the origin\'s warm-segment front', () => {
  // The same file by the front (plain target) and by the app (an escape in the query, which the front leaves alone).
  const both = async (urlPath: string, init: RequestInit = {}, base = server.url) => {
    const ask = (target: string) => rawRequest(base, target, { method: init.method ?? 'GET', headers: { 'X-Request-Id': 'same-id', ...(init.headers as Record<string, string>) } });
    return [await ask(urlPath), await ask(`${urlPath}${urlPath.includes('?') ? '&' : '?'}x=%41`)] as const;
  };
  const comparable = (headers: Record<string, string>) => {
    const { date: _date, ...rest } = headers;
    return rest;
  };

  it('answers a warm 200, 206, 304 and HEAD with the app\'s status, headers and bytes', async () => {
    const urlPath = `${video}/segment_1.m4s`;
    const first = await fetch(`${server.url}${urlPath}`);
    expect(first.status).toBe(200);
    const etag = first.headers.get('etag')!;
    const cases: RequestInit[] = [{}, { headers: { Range: 'bytes=10-99' } }, { headers: { 'If-None-Match': etag } }, { method: 'HEAD' }];
    for (const init of cases) {
      const [front, app] = await both(urlPath, init);
      expect(front.status).toBe(app.status);
      expect(comparable(front.headers)).toEqual(comparable(app.headers));
      expect(front.body.equals(app.body)).toBe(true);
    }
    const [front] = await both(urlPath);
    expect(front.headers['link']).toBe('<segment_2.m4s>; rel=preload; as=fetch; crossorigin');
    expect(front.headers['cache-control']).toBe(IMMUTABLE);
  });

  it('with signed URLs: runs the signing guard on warm hits (a bad or missing signature is the app\'s 403), and answers a signed one as the app does', async () => {
    const key = 'front-signing-key-0123456789abcdef';
    const signed = await testServer(await mediaFolder({ 'small.mp4': await testSource('small') }), NO_PREFETCH, { signKey: key });
    try {
      const query = await new UrlSigner(key).query(UrlSigner.contentScope(hash), Math.floor(Date.now() / 1000) + 3600);
      const registered = await (await fetch(`${signed.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'small.mp4' }) })).json();
      expect(registered.hash).toBe(hash);
      const urlPath = `${video}/segment_1.m4s`;
      expect((await fetch(`${signed.url}${urlPath}${query}`)).status).toBe(200);
      // Now warm: the front has it, and must still refuse what the app refuses.
      for (const target of [urlPath, `${urlPath}${query.replace(/sig=./, 'sig=A')}`, `${urlPath}?exp=1&sig=x`]) {
        const refused = await rawRequest(signed.url, target);
        expect(refused.status, target).toBe(403);
        expect(refused.headers['content-type']).toMatch(/application\/json/);
      }
      const [front, app] = await both(`${urlPath}${query}`, {}, signed.url);
      expect(front.status).toBe(200);
      expect(front.status).toBe(app.status);
      expect(comparable(front.headers)).toEqual(comparable(app.headers));
      expect(front.body.equals(app.body)).toBe(true);
      expect(front.headers['link']).toBeUndefined();
    } finally {
      await signed.close();
    }
  });
});
