import type { Profile, StreamingConfig } from '../../src/config/config.js';
import { defaultStreamingConfig } from '../../src/config/config.js';
import { UrlSigner } from '../../src/http/signing.js';

/** What the protected-content tests share: two small renditions, the secrets, and signed URLs. */

export const DRM_PROFILES: Profile[] = [
  { name: '360p', width: 640, height: 360, bitrate: 800, quality: 23 },
  { name: '180p', width: 320, height: 180, bitrate: 300, quality: 23 },
];

export const SIGN_KEY = 'drm-test-sign-key-0123456789';
export const SEED = 'drm-test-seed-0123456789abcdef0123456789abcdef';

export function drmStreaming(scheme: 'cenc' | 'cbcs' | undefined): Partial<StreamingConfig> {
  const defaults = defaultStreamingConfig();
  return { profiles: DRM_PROFILES, drm: scheme ? { ...defaults.drm, enabled: true, scheme } : defaults.drm };
}

/** Registers `path` and returns its hash and a query signed for it (an hour). */
export async function registerSigned(origin: string, path: string, signKey = SIGN_KEY): Promise<{ hash: string; query: string; base: string }> {
  const response = await fetch(`${origin}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path }), headers: { 'content-type': 'application/json' } });
  if (response.status !== 200 && response.status !== 201) throw new Error(`registration: ${response.status} ${await response.text()}`);
  const { hash } = (await response.json()) as { hash: string };
  const query = await new UrlSigner(signKey).query(UrlSigner.contentScope(hash), Math.floor(Date.now() / 1000) + 3600);
  return { hash, query, base: `${origin}/api/v1/content/${hash}` };
}

export async function fetchOk(url: string): Promise<Buffer> {
  const response = await fetch(url);
  const body = Buffer.from(await response.arrayBuffer());
  if (response.status !== 200) throw new Error(`${url}: ${response.status} ${body.toString().slice(0, 200)}`);
  return body;
}
