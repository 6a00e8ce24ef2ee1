import { describe, expect, it } from 'vitest';
import { avcCodecString } from '../src/package/fmp4.js';
import { mediaFolder, testSource } from './support/media.js';
import { encoderWith, testServer } from './support/server.js';

/**
 * Manifests declare CODECS before anything is encoded; every preset and tune
 * must produce exactly that profile and level, or players that trust the
 * manifest (Safari, MSE) would reject the stream.
 */
const presets = ['ultrafast', 'superfast', 'veryfast', 'faster', 'fast', 'medium', 'slow', 'slower', 'veryslow'] as const;
const tunes = ['film', 'animation', 'grain', 'stillimage', 'fastdecode', 'zerolatency'] as const;

describe('encoder settings keep the declared codec string', () => {
  it.each([
    ...presets.map((preset) => ({ preset, tune: undefined })),
    ...tunes.map((tune) => ({ preset: 'veryfast' as const, tune })),
  ])('preset $preset, tune $tune', async ({ preset, tune }) => {
    const server = await testServer(await mediaFolder({ 'small.mp4': await testSource('small') }), {
      encoder: encoderWith({ preset, ...(tune ? { tune } : {}) }),
    });
    try {
      const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'small.mp4' }) })).json();
      const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
      const rendition = info.renditions[0];
      const response = await fetch(`${server.url}/api/v1/content/${registered.hash}/video/${rendition.id}/init.mp4`);
      expect(response.status).toBe(200);
      expect(avcCodecString(new Uint8Array(await response.arrayBuffer()))).toBe(rendition.codecs);
    } finally {
      await server.close();
    }
  });
});
