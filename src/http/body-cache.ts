import { createHash } from 'node:crypto';

/** A complete response body and its strong ETag. */
export interface CachedBody {
  body: Uint8Array;
  etag: string;
}

export const etagOf = (body: Uint8Array | string) => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

export function contentUrls(hash: string) {
  const base = `/api/v1/content/${hash}`;
  return { info: `${base}/info`, hls: `${base}/master.m3u8`, dash: `${base}/manifest.mpd` };
}
