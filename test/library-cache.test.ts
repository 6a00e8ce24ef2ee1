/**
 * What the media library keeps in memory: contents (probes with their
 * per-frame tables, plans) in an LRU bounded by bytes, derived again from
 * the store when they fell out; and contents marked unplayable.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { UnsupportedMediaError } from '../src/errors.js';
import { errorStatus } from '../src/http/errors.js';
import { MediaLibrary } from '../src/library/media-library.js';
import { ContentIdIndex } from '../src/store/content-id.js';
import { ContentStore } from '../src/store/content-store.js';
import { mediaFolder, testSource } from './support/media.js';
import { twinClips } from './support/twin-clips.js';

async function libraryOn(media: string, contentMemoryBytes?: number): Promise<MediaLibrary> {
  const cache = await mkdtemp(path.join(os.tmpdir(), 'jitseg-library-'));
  const store = new ContentStore(cache);
  await store.init();
  const ids = new ContentIdIndex(cache);
  await ids.load();
  const config = defaultStreamingConfig();
  return new MediaLibrary(media, store, ids, { ...config, storage: { ...config.storage, ...(contentMemoryBytes ? { content_memory_bytes: contentMemoryBytes } : {}) } });
}

describe('contents in memory', () => {
  it('stay under the byte cap; one that fell out is derived again, the same, on its next lookup', async () => {
    const { a, b } = await twinClips();
    const media = await mediaFolder({ 'a.mp4': a, 'b.mp4': b, 'main.mp4': await testSource('main1080p') });
    const names = ['a.mp4', 'b.mp4', 'main.mp4'];

    // Each content's size as the library counts it.
    const measuring = await libraryOn(media);
    const sizes: number[] = [];
    for (const name of names) {
      const before = measuring.memory.bytes;
      await measuring.register(name);
      sizes.push(measuring.memory.bytes - before);
    }
    await measuring.close();
    expect(sizes.every((s) => s > 0)).toBe(true);
    // The 30 s 1080p source has more frames and segments than the 8 s clips: its tables weigh more.
    expect(sizes[2]!).toBeGreaterThan(sizes[0]!);

    // Room for any two, not for all three.
    const cap = sizes.reduce((x, y) => x + y, 0) - Math.min(...sizes) / 2;
    const library = await libraryOn(media, cap);
    const first = await library.register(names[0]!);
    for (const name of names.slice(1)) {
      await library.register(name);
      expect(library.memory.bytes).toBeLessThanOrEqual(cap);
    }
    expect(library.memory.contents).toBe(2);

    // The least recently used one fell out: looked up again, it comes back from the store, the same content.
    const again = await library.get(first.metadata.hash);
    expect(again).not.toBe(first);
    expect(again.metadata).toEqual(first.metadata);
    expect(again.plan).toEqual(first.plan);
    expect(library.memory.bytes).toBeLessThanOrEqual(cap);
    expect(library.memory.contents).toBe(2);
    await library.close();
  });

  it('a content bigger than the whole cap is served but not kept', async () => {
    const { a } = await twinClips();
    const library = await libraryOn(await mediaFolder({ 'a.mp4': a }), 1024);
    const content = await library.register('a.mp4');
    expect(library.memory).toEqual({ contents: 0, bytes: 0 });
    expect((await library.get(content.metadata.hash)).plan).toEqual(content.plan);
    await library.close();
  });
});

describe('markUnplayable', () => {
  it('makes the content and its file answer 415 with the reason, on lookups and registrations', async () => {
    const { a } = await twinClips();
    const library = await libraryOn(await mediaFolder({ 'a.mp4': a }));
    const { metadata } = await library.register('a.mp4');
    library.markUnplayable(metadata.hash, 'the first segment cannot be decoded');
    for (const attempt of [library.get(metadata.hash), library.register('a.mp4')]) {
      const err = await attempt.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsupportedMediaError);
      expect((err as Error).message).toBe('the first segment cannot be decoded');
      expect(errorStatus(err).status).toBe(415);
    }
    await library.close();
  });
});
