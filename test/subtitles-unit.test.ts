import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWebVtt, webVttSegment, webVttWhole, type Cue } from '../src/package/webvtt.js';
import { planSubtitles } from '../src/plan/subtitles.js';
import { findSidecars, sidecarFlags } from '../src/probe/sidecars.js';
import type { SubtitleStreamProbe } from '../src/probe/types.js';
import { extractWebVtt } from '../src/transcode/subtitles.js';

/** The pure parts of subtitles (naming, flags, cutting) and the sidecar conversion with real ffmpeg. */

const stream = (index: number, codec: string, more: Partial<SubtitleStreamProbe> = {}): SubtitleStreamProbe => ({
  index, codec, language: 'und', isDefault: false, isForced: false, isHearingImpaired: false, ...more,
});

describe('sidecar names', () => {
  it('give language, flags and title', () => {
    expect(sidecarFlags(['fre', 'forced'])).toEqual({ language: 'fre', isDefault: false, isForced: true, isHearingImpaired: false });
    expect(sidecarFlags(['en'])).toEqual({ language: 'en', isDefault: false, isForced: false, isHearingImpaired: false });
    expect(sidecarFlags(['pt-BR', 'sdh', 'default'])).toEqual({ language: 'pt-br', isDefault: true, isForced: false, isHearingImpaired: true });
    expect(sidecarFlags(['en', 'Commentary'])).toEqual({ language: 'en', title: 'Commentary', isDefault: false, isForced: false, isHearingImpaired: false });
    expect(sidecarFlags([])).toEqual({ language: 'und', isDefault: false, isForced: false, isHearingImpaired: false });
  });

  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-sidecars-'));
    await writeFile(path.join(dir, 'film.mkv'), 'x');
    await writeFile(path.join(dir, 'film.en.srt'), '1\n00:00:01,000 --> 00:00:02,000\nHi\n');
    await writeFile(path.join(dir, 'film.fre.forced.ass'), '[Script Info]\n');
    await writeFile(path.join(dir, 'film.vtt'), 'WEBVTT\n');
    await writeFile(path.join(dir, 'film2.en.srt'), 'not this video\n');
    await writeFile(path.join(dir, 'film.en.txt'), 'not a subtitle format\n');
    await writeFile(path.join(dir, 'film.de.srt'), '');
    await writeFile(`${dir}-outside.srt`, '1\n00:00:01,000 --> 00:00:02,000\nsecret\n');
    await symlink(`${dir}-outside.srt`, path.join(dir, 'film.es.srt'));
  });
  afterAll(() => Promise.all([rm(dir, { recursive: true, force: true }), rm(`${dir}-outside.srt`, { force: true })]));

  it('are found beside the video: regular files of its name only (no symlink out, no empty file, no other video)', async () => {
    const found = await findSidecars(path.join(dir, 'film.mkv'));
    expect(found.map((s) => [s.file, s.format, s.language, s.isForced])).toEqual([
      ['film.en.srt', 'srt', 'en', false],
      ['film.fre.forced.ass', 'ass', 'fre', true],
      ['film.vtt', 'vtt', 'und', false],
    ]);
  });
});

describe('planSubtitles', () => {
  it('offers text tracks, reports image tracks with the reason, keeps one default and unique names', () => {
    const plan = planSubtitles(
      [
        stream(0, 'subrip', { language: 'eng', isDefault: true }),
        stream(1, 'hdmv_pgs_subtitle', { language: 'eng' }),
        stream(2, 'ass', { language: 'eng', isDefault: true }),
        stream(3, 'dvd_subtitle', { language: 'fre' }),
        stream(4, 'dvb_subtitle'),
        stream(5, 'eia_608'),
        stream(6, 'mov_text', { language: 'fre', isForced: true }),
      ],
      [{ file: 'film.en.srt', format: 'srt', language: 'en', isDefault: false, isForced: false, isHearingImpaired: true, stamp: 'abc' }],
    );
    expect(plan.tracks.map((t) => [t.name, t.language, t.isDefault, t.isForced])).toEqual([
      ['English', 'eng', true, false],
      ['English 2', 'eng', false, false],
      ['French (forced)', 'fre', false, true],
      ['English (SDH)', 'en', false, false],
    ]);
    expect(plan.notOffered.map((n) => [n.index, n.codec, n.reason.split(' ')[0]])).toEqual([
      [1, 'hdmv_pgs_subtitle', 'PGS'],
      [3, 'dvd_subtitle', 'VobSub'],
      [4, 'dvb_subtitle', 'DVB'],
      [5, 'eia_608', 'the'],
    ]);
    // Ids are URL-safe and change with a sidecar's version.
    for (const t of plan.tracks) expect(t.id).toMatch(/^[a-z0-9-]+$/);
    const again = planSubtitles([], [{ file: 'film.en.srt', format: 'srt', language: 'en', isDefault: false, isForced: false, isHearingImpaired: true, stamp: 'abd' }]);
    expect(again.tracks[0]!.id).not.toBe(plan.tracks[3]!.id);
  });
});

describe('WebVTT cutting', () => {
  const cues: Cue[] = parseWebVtt(
    'WEBVTT\n\n1\n00:00:00.500 --> 00:00:02.250 line:90%\n<i>one</i>\n\n00:01.999 --> 00:02.000\nends at the cut\n\n' +
      '00:02.000 --> 00:02.000\ninstant at the cut\n\n01:00:00.000 --> 01:00:01.000\nlate --> arrow\n',
  );

  it('parses ids, settings, short and long timestamps', () => {
    expect(cues).toEqual([
      { startMs: 500, endMs: 2250, settings: 'line:90%', text: '<i>one</i>' },
      { startMs: 1999, endMs: 2000, settings: '', text: 'ends at the cut' },
      { startMs: 2000, endMs: 2000, settings: '', text: 'instant at the cut' },
      { startMs: 3_600_000, endMs: 3_601_000, settings: '', text: 'late --> arrow' },
    ]);
  });

  it('puts a cue in every segment it overlaps, an instant one where it is, and cues past the end in the last', () => {
    const timings = (text: string) => [...text.matchAll(/^(\S+) --> (\S+).*\n(.*)$/gm)].map((m) => m[3]);
    expect(timings(webVttSegment(cues, 0, 2000, 900000, false))).toEqual(['<i>one</i>', 'ends at the cut']);
    expect(timings(webVttSegment(cues, 2000, 4000, 900000, false))).toEqual(['<i>one</i>', 'instant at the cut']);
    const last = webVttSegment(cues, 2000, 4000, 900000, true);
    expect(last).toContain('01:00:00.000 --> 01:00:01.000\nlate --&gt; arrow\n');
    expect(last.startsWith('WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\n00:00:00.500 --> 00:00:02.250 line:90%\n')).toBe(true);
  });

  it('shifts the whole track to the presentation timeline, dropping what ends before 0', () => {
    expect(webVttWhole(cues.slice(0, 2), -1000)).toBe('WEBVTT\n\n00:00:00.000 --> 00:00:01.250 line:90%\n<i>one</i>\n\n00:00:00.999 --> 00:00:01.000\nends at the cut\n');
    expect(webVttWhole(cues.slice(0, 1), -3000)).toBe('WEBVTT\n');
  });
});

describe('sidecar conversion (ffmpeg)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-sidecar-charset-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads a CP-1252 SubRip file (not UTF-8) with its accents', async () => {
    const file = path.join(dir, 'film.fr.srt');
    await writeFile(file, Buffer.from('1\r\n00:00:01,000 --> 00:00:02,500\r\nCaf\xe9 cr\xe8me\r\n', 'latin1'));
    const text = await extractWebVtt({ kind: 'sidecar', file: 'film.fr.srt', format: 'srt', stamp: 'x' }, file);
    expect(parseWebVtt(text)).toEqual([{ startMs: 1000, endMs: 2500, settings: '', text: 'Café crème' }]);
  });
});
