/**
 * The one error → response mapping (src/http/errors.ts): storage failures
 * are 503 + Retry-After wherever they surface (plain, or wrapped by a probe
 * or an encode), never 500; no reason sent to a client names a local path.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { EncodeError, NotFoundError } from '../src/errors.js';
import { errorResponse, errorStatus, publicMessage, withoutLocalPaths } from '../src/http/errors.js';
import { ProbeError } from '../src/probe/errors.js';

const errno = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('storage errors', () => {
  it.each(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO'])('%s → 503 with Retry-After, plain or wrapped', async (code) => {
    const plain = errno(code, `${code}: failure, open '/var/cache/jitseg/abc/video/x/segment_3.m4s.tmp'`);
    const wrapped = [plain, Object.assign(new EncodeError('encode failed', ''), { cause: plain }), new ProbeError('unreadable', 'cannot read', { cause: plain })];
    for (const err of wrapped) {
      expect(errorStatus(err)).toMatchObject({ status: 503, code: 'storage_unavailable' });
      const app = new Hono();
      app.get('/x', () => {
        throw err;
      });
      app.onError((e, c) => errorResponse(c, e));
      const response = await app.request('/x');
      expect(response.status).toBe(503);
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const body = await response.json();
      expect(body.message).toContain(code);
      expect(body.message).not.toMatch(/\/var|segment_3/);
    }
  });

  it('other errors keep their statuses', () => {
    expect(errorStatus(new NotFoundError('x')).status).toBe(404);
    expect(errorStatus(new ProbeError('not-media', 'x')).status).toBe(415);
    expect(errorStatus(new EncodeError('x', '')).status).toBe(502);
    expect(errorStatus(errno('ENOENT', 'x')).status).toBe(500);
  });
});

describe('local paths in client-facing reasons', () => {
  it.each([
    ['file:/srv/media/bad/garbage.mkv: Invalid data found when processing input', 'garbage.mkv: Invalid data found when processing input'],
    ['/home/me/My Videos/clip one.mp4: Invalid data', 'clip one.mp4: Invalid data'],
    ["could not open '/tmp/jitseg-cache-1/abc/init.mp4'", "could not open 'init.mp4'"],
    ['use /vod/{path}/master.m3u8 or /vod/{path}/manifest.mpd', 'use /vod/{path}/master.m3u8 or /vod/{path}/manifest.mpd'],
    ['see https://example.com/a/b for details', 'see https://example.com/a/b for details'],
  ])('%s', (message, expected) => {
    expect(withoutLocalPaths(message)).toBe(expected);
  });

  it('a probe reason is cut the same way', () => {
    expect(publicMessage(new ProbeError('not-media', 'ffprobe cannot read the file: file:/data/media/x/y.mkv: Invalid data'))).toBe('ffprobe cannot read the file: y.mkv: Invalid data');
  });
});
