/**
 * Hardware encoders without a GPU: every command line is checked against
 * what this ffmpeg says its encoders and filters accept; the choice and the
 * fallback run against a fake ffmpeg whose NVENC "exists" but fails, the way
 * a GPU that is absent or broken behaves.
 */
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePlan } from '../src/plan/plan.js';
import { videoEncodeArgs } from '../src/transcode/ffmpeg-args.js';
import { chooseEncoder, EncoderSelector, HW_ENCODERS, type EncoderDetection, type VideoEncoderName } from '../src/transcode/encoders.js';
import { trialArgs } from '../src/transcode/encoder-args.js';
import { defaultStreamingConfig } from '../src/config/config.js';
import { syntheticProbe } from './support/synthetic-probe.js';
import { exec, mediaFolder, testSource } from './support/media.js';
import { encoderWith, NO_PREFETCH, testServer } from './support/server.js';

const plan = makePlan(syntheticProbe({ seconds: 20, keyframeSeconds: [0, 4, 8, 12, 16], width: 1920, height: 1080 }), defaultStreamingConfig());
const rendition = plan.renditions[0]!;
const args = (encoder: VideoEncoderName) => videoEncodeArgs('/media/a.mp4', plan, rendition, plan.videoSegments[1]!, '/tmp/out.ts', { encoder });
const has = (list: string[], ...seq: string[]) => list.some((_, i) => seq.every((s, k) => list[i + k] === s));

/** Options (and enum values) an encoder accepts, from `ffmpeg -h encoder=…`; undefined when this ffmpeg lacks it. */
async function encoderOptions(name: string): Promise<Map<string, Set<string>> | undefined> {
  const { stdout } = await exec('ffmpeg', ['-hide_banner', '-h', `encoder=${name}`]);
  if (/is not recognized/.test(stdout)) return undefined;
  const options = new Map<string, Set<string>>();
  let current: Set<string> | undefined;
  for (const line of stdout.split('\n')) {
    const option = /^ {2}-(\S+)\s+<\w+>/.exec(line);
    const value = /^ {5}(\S+)\s+\S+\s+E/.exec(line);
    if (option) options.set(option[1]!, (current = new Set()));
    else if (value && current) current.add(value[1]!);
  }
  return options;
}

/** Options every encoder takes (AVCodecContext and the ffmpeg CLI), not listed per encoder. */
const GENERIC = new Set(['c:v', 'profile:v', 'level:v', 'maxrate', 'bufsize', 'bf', 'g', 'b:v', 'global_quality', 'crf', 'threads', 'x264-params', 'preset', 'tune']);

describe('hardware encoder command lines', () => {
  it.each(Object.values(HW_ENCODERS))('%s: decodes, scales and encodes on its device, one closed GOP per segment', (encoder) => {
    const a = args(encoder);
    expect(has(a, '-c:v', encoder)).toBe(true);
    // Same timeline rules as libx264: exact frames, source timestamps, one local file.
    for (const seq of [['-copyts'], ['-fps_mode', 'passthrough'], ['-protocol_whitelist', 'file'], ['-profile:v', 'high'], ['-level:v', String(rendition.levelIdc / 10)], ['-maxrate', `${rendition.maxrateKbps}k`], ['-bufsize', `${rendition.bufsizeKbps}k`], ['-g', '100000']]) {
      expect(has(a, ...seq), `${encoder} ${seq.join(' ')}`).toBe(true);
    }
    const filters = a[a.indexOf('-vf') + 1]!;
    expect(filters).toMatch(/^trim=start_pts=\d+:end_pts=\d+,/);
    expect(a.indexOf('-i')).toBeGreaterThan(a.indexOf('-copyts'));
    const device = { h264_nvenc: ['-hwaccel', 'cuda'], h264_qsv: ['-hwaccel', 'qsv'], h264_vaapi: ['-hwaccel', 'vaapi'], h264_videotoolbox: ['-hwaccel', 'videotoolbox'] }[encoder as Exclude<VideoEncoderName, 'libx264'>];
    expect(has(a, ...device)).toBe(true);
    expect(a.indexOf(device[0]!)).toBeLessThan(a.indexOf('-i'));
    const scale = { h264_nvenc: 'scale_cuda=', h264_qsv: 'scale_qsv=', h264_vaapi: 'scale_vaapi=', h264_videotoolbox: 'scale=' }[encoder as Exclude<VideoEncoderName, 'libx264'>];
    expect(filters).toContain(`${scale}`);
    expect(filters).toContain(String(rendition.width));
    // No keyframe inside a segment, whatever the encoder's habits.
    const closed = { h264_nvenc: [['-forced-idr', '1'], ['-no-scenecut', '1'], ['-strict_gop', '1']], h264_qsv: [['-idr_interval', '0']], h264_vaapi: [['-idr_interval', '0']], h264_videotoolbox: [['-allow_sw', '0']] }[encoder as Exclude<VideoEncoderName, 'libx264'>];
    for (const seq of closed) expect(has(a, ...seq), `${encoder} ${seq.join(' ')}`).toBe(true);
  });

  it.each(Object.values(HW_ENCODERS))('%s: every option and value is one this ffmpeg knows (when it has the encoder)', async (encoder) => {
    const known = await encoderOptions(encoder);
    if (!known) return; // e.g. VideoToolbox exists only in macOS builds
    const a = args(encoder);
    const start = a.indexOf('-c:v');
    for (let i = start; i < a.indexOf('-output_ts_offset'); i += 2) {
      const name = a[i]!.slice(1);
      if (GENERIC.has(name) && !known.has(name)) continue;
      const accepted = known.get(name.replace(/:v$/, ''));
      expect(accepted, `${encoder} -${name}`).toBeDefined();
      const value = a[i + 1]!;
      if (accepted!.size > 0 && !/^-?\d+$/.test(value)) expect([...accepted!], `${encoder} -${name} ${value}`).toContain(value);
    }
    for (const filter of a[a.indexOf('-vf') + 1]!.split(',').map((f) => f.split('=')[0]!)) {
      const { stdout, stderr } = await exec('ffmpeg', ['-hide_banner', '-h', `filter=${filter}`]).catch((e) => e);
      expect(`${stdout}${stderr}`, filter).not.toMatch(/Unknown filter/);
    }
  });

  it('trial encodes are one frame on the device', () => {
    for (const encoder of Object.values(HW_ENCODERS)) {
      const a = trialArgs(encoder);
      expect(has(a, '-frames:v', '1')).toBe(true);
      expect(has(a, '-c:v', encoder)).toBe(true);
    }
    expect(trialArgs('h264_vaapi').join(' ')).toContain('hwupload');
  });
});

describe('encoder choice and fallback', () => {
  const detection = (working: VideoEncoderName[], listed = working): EncoderDetection => ({ listed, working, failures: { h264_nvenc: 'Cannot load libcuda.so.1' } });

  it('auto takes the first that works, a configured one only when it works, none means libx264', () => {
    expect(chooseEncoder('auto', detection(['h264_vaapi', 'h264_nvenc'])).encoder).toBe('h264_nvenc');
    expect(chooseEncoder('auto', detection([], ['h264_nvenc'])).encoder).toBe('libx264');
    expect(chooseEncoder('vaapi', detection(['h264_vaapi'])).encoder).toBe('h264_vaapi');
    const broken = chooseEncoder('nvenc', detection([], ['h264_nvenc']));
    expect(broken).toEqual({ encoder: 'libx264', note: expect.stringContaining('libcuda') });
    expect(chooseEncoder('none', detection(['h264_nvenc'])).encoder).toBe('libx264');
  });

  it('stays on libx264 after three hardware failures in a row; a success in between resets the count', () => {
    const selector = new EncoderSelector(detection(['h264_nvenc']), 'h264_nvenc', 'nvenc found and working');
    selector.hardwareFailed('x');
    selector.hardwareFailed('x');
    selector.hardwareSucceeded();
    selector.hardwareFailed('x');
    selector.hardwareFailed('x');
    expect(selector.current).toBe('h264_nvenc');
    selector.hardwareFailed('x');
    expect(selector.current).toBe('libx264');
    expect(selector.report()).toMatchObject({ chosen: 'h264_nvenc', inUse: 'libx264', hardwareFailures: 5 });
  });
});

/** An ffmpeg whose NVENC is listed; its trial passes or fails as asked, and every real NVENC encode fails (and is logged). */
function fakeFfmpeg(trialPasses: boolean, attempts: string): string {
  return `#!/bin/sh
case "$*" in
  *h264_nvenc*color=black*|*color=black*h264_nvenc*) ${trialPasses ? 'exit 0' : 'echo "Cannot load libcuda.so.1" >&2; exit 1'} ;;
  *h264_nvenc*) echo nvenc >> "${attempts}"; echo "[h264_nvenc @ 0x1] Cannot load libcuda.so.1" >&2; exit 1 ;;
esac
exec ffmpeg "$@"
`;
}

describe('a hardware encoder that fails', () => {
  let dir: string;
  let saved: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-hw-'));
    saved = process.env.JITSEG_FFMPEG;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.JITSEG_FFMPEG;
    else process.env.JITSEG_FFMPEG = saved;
  });

  async function withFake(name: string, trialPasses: boolean): Promise<string> {
    const attempts = path.join(dir, `${name}.attempts`);
    await writeFile(attempts, '');
    const script = path.join(dir, name);
    await writeFile(script, fakeFfmpeg(trialPasses, attempts));
    await chmod(script, 0o755);
    process.env.JITSEG_FFMPEG = script;
    return attempts;
  }
  const nvencRuns = async (attempts: string) => (await readFile(attempts, 'utf8')).split('\n').filter(Boolean).length;

  it('at run time: each failed segment is re-encoded with libx264 at once, and after three failures the origin stays on libx264', async () => {
    const attempts = await withFake('nvenc-breaks', true);
    const media = await mediaFolder({ 'big.mp4': await testSource('main1080p'), 'small.mp4': await testSource('small') });
    const server = await testServer(media, { ...NO_PREFETCH, encoder: encoderWith({ preset: 'ultrafast' }) });
    try {
      const system = async () => (await (await fetch(`${server.url}/api/v1/system`)).json()).encoders;
      expect(await system()).toMatchObject({ chosen: 'h264_nvenc', inUse: 'h264_nvenc', working: ['h264_nvenc'] });
      const renditions: string[] = [];
      for (const file of ['big.mp4', 'small.mp4']) {
        const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: file }) })).json();
        const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
        for (const r of info.renditions) renditions.push(`${server.url}/api/v1/content/${registered.hash}/video/${r.id}`);
      }
      expect(renditions.length).toBeGreaterThanOrEqual(4);
      for (const [i, rendition] of renditions.entries()) {
        const response = await fetch(`${rendition}/segment_1.m4s`);
        expect(response.status, rendition).toBe(200);
        expect(Buffer.from(await response.arrayBuffer()).subarray(4, 8).toString()).toBe('styp');
        // One NVENC try per rendition until the third failure; none after.
        expect(await nvencRuns(attempts)).toBe(Math.min(i + 1, 3));
      }
      expect(await system()).toMatchObject({ chosen: 'h264_nvenc', inUse: 'libx264', hardwareFailures: 3 });
      // A rendition started on libx264 stays on it: its init and later segments match.
      const second = await fetch(`${renditions[0]}/segment_2.m4s`);
      expect(second.status).toBe(200);
      expect(await nvencRuns(attempts)).toBe(3);
    } finally {
      await server.close();
    }
  });

  it('at start-up: a configured NVENC that fails to initialise leaves the origin on libx264, serving', async () => {
    const attempts = await withFake('nvenc-absent', false);
    const media = await mediaFolder({ 'small.mp4': await testSource('small') });
    const server = await testServer(media, { ...NO_PREFETCH, encoder: encoderWith({ preset: 'ultrafast', hwaccel: 'nvenc' }) });
    try {
      const report = (await (await fetch(`${server.url}/api/v1/system`)).json()).encoders;
      expect(report).toMatchObject({ chosen: 'libx264', inUse: 'libx264', listed: expect.arrayContaining(['h264_nvenc']), working: [] });
      expect(report.note).toMatch(/nvenc was configured but does not work here \(Cannot load libcuda/);
      const registered = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'small.mp4' }) })).json();
      const info = await (await fetch(`${server.url}${registered.urls.info}`)).json();
      expect((await fetch(`${server.url}/api/v1/content/${registered.hash}/video/${info.renditions[0].id}/segment_1.m4s`)).status).toBe(200);
      expect(await nvencRuns(attempts)).toBe(0);
    } finally {
      await server.close();
    }
  });
});
