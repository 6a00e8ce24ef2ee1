import { describe, expect, it } from 'vitest';
import { defaultStreamingConfig } from '../src/config/config.js';
import { CORPUS } from './support/corpus.js';
import { corpusSource, decodeFrames, expectContinuousAudio, parseM3u8 } from './support/conformance.js';
import { ffprobeJson, mediaFolder } from './support/media.js';
import { encoderWith, testServer } from './support/server.js';

/** Surround sources get a stereo rendition always and, when the config asks, a 5.1 one too. */
const broadcast = CORPUS.find((item) => item.file === 'broadcast.ts')!;

async function audioRenditions(surround: boolean) {
  const source = await corpusSource(broadcast);
  const defaults = defaultStreamingConfig();
  const server = await testServer(await mediaFolder({ 'b.ts': source }), {
    encoder: encoderWith({ preset: 'ultrafast' }),
    audio: { ...defaults.audio, surround },
  });
  const master = `${server.url}/vod/b.ts/master.m3u8`;
  const manifest = parseM3u8(await (await fetch(master)).text());
  return { server, master, source, audio: Object.values(manifest.mediaGroups.AUDIO.aac) as any[] };
}

describe('surround audio', () => {
  it('is downmixed to one stereo rendition by default', async () => {
    const { server, audio } = await audioRenditions(false);
    try {
      expect(audio.map((a) => a.attributes?.CHANNELS ?? a.channels)).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('also gets a 5.1 AAC rendition, not the default, gapless and of the source length, when configured', async () => {
    const { server, master, source, audio } = await audioRenditions(true);
    try {
      expect(audio).toHaveLength(2);
      const text = await (await fetch(master)).text();
      expect(text).toMatch(/CHANNELS="6"/);
      expect(text).toMatch(/CHANNELS="2"/);
      const surround = audio.find((a) => /\/audio\/audio0-6ch-/.test(a.uri))!;
      expect(surround.default).toBe(false);
      const url = new URL(surround.uri, master).href;
      const { streams } = await ffprobeJson(['-show_entries', 'stream=channels,codec_name', url]);
      expect(streams[0]).toMatchObject({ codec_name: 'aac', channels: 6 });
      expectContinuousAudio('5.1 rendition', await decodeFrames(url, '0:a:0'), await decodeFrames(source, '0:a:0'));
    } finally {
      await server.close();
    }
  });
});
