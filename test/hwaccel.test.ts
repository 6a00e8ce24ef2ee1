/**
 * Hardware encoders without a GPU. What this machine's ffmpeg can check
 * without a device, it checks, values included:
 * - every encoder option and value against the encoder's own option table
 *   (`ffmpeg -h encoder=…`) or, for options it has none of, the generic one
 *   (AVCodecContext in `ffmpeg -h full`), as avcodec_open2 resolves them;
 * - NVENC and QSV take software frames, so ffmpeg really opens them: it sets
 *   every option (a bad value stops it there) and fails only in the
 *   encoder's device initialisation. VA-API takes only device surfaces, so
 *   ffmpeg cannot get that far without a device: its table check stands;
 * - every filter chain is parsed and initialised by ffmpeg from software
 *   frames (what a source the device cannot decode gives), and stops only
 *   where the upload needs the absent device;
 * - the device and hwaccel names are ones ffmpeg tries to create.
 * VideoToolbox exists only in macOS builds: its table is the one from
 * FFmpeg's source below unless this ffmpeg has the encoder.
 * The choice and the fallback run against a fake ffmpeg whose NVENC "exists"
 * but fails, the way a GPU that is absent or broken behaves.
 */
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePlan } from '../src/plan/plan.js';
import { videoEncodeArgs } from '../src/transcode/ffmpeg-args.js';
import { chooseEncoder, EncoderSelector, HW_ENCODERS, listedEncoders, type EncoderDetection, type VideoEncoderName } from '../src/transcode/encoders.js';
import { HW_DEVICE_NAME, trialArgs } from '../src/transcode/encoder-args.js';
import { defaultStreamingConfig } from '../src/config/config.js';
import { syntheticProbe } from './support/synthetic-probe.js';
import { exec, mediaFolder, testSource } from './support/media.js';
import { encoderWith, NO_PREFETCH, testServer } from './support/server.js';
import {
  ffmpegHelp,
  integerValue,
  parseChain,
  parseOptionTable,
  pixelFormats,
  runFfmpeg,
  valueProblem,
  type OptionSpec,
  type OptionTable,
} from './support/ffmpeg-options.js';

type HwEncoder = Exclude<VideoEncoderName, 'libx264'>;
const HARDWARE = Object.values(HW_ENCODERS) as HwEncoder[];
/** The encoders whose device chain is decode → upload → device scaler → encoder. */
const ON_DEVICE = ['h264_nvenc', 'h264_qsv', 'h264_vaapi'] as const;
/** The hardware pixel format (and hwaccel) of each. */
const HW_FORMAT = { h264_nvenc: 'cuda', h264_qsv: 'qsv', h264_vaapi: 'vaapi' } as const;

const plan = makePlan(syntheticProbe({ seconds: 20, keyframeSeconds: [0, 4, 8, 12, 16], width: 1920, height: 1080 }), defaultStreamingConfig());
/** 1080p (level 4.0, idc 40) and 720p (3.1, idc 31): one level name with a ".0" and one without. */
const renditions = plan.renditions.filter((r) => r.name === '1080p' || r.name === '720p');
const args = (encoder: VideoEncoderName, rendition = renditions[0]!) =>
  videoEncodeArgs('/media/a.mp4', plan, rendition, plan.videoSegments[1]!, '/tmp/out.ts', { encoder });
const has = (list: string[], ...seq: string[]) => list.some((_, i) => seq.every((s, k) => list[i + k] === s));

/** `-name value` pairs from index `from` up to (not including) `to`. */
function pairs(list: string[], from: number, to: number): [string, string][] {
  const out: [string, string][] = [];
  for (let i = from; i < to; i += 2) {
    expect(list[i], `option at ${i} in ${list.slice(from, to).join(' ')}`).toMatch(/^-/);
    out.push([list[i]!.slice(1), list[i + 1]!]);
  }
  return out;
}
/** The encoder's part of a command line: from -c:v to the output options. */
const encoderPairs = (list: string[]) => pairs(list, list.indexOf('-c:v'), list.indexOf('-output_ts_offset'));
/** A stream specifier (":v") addresses streams, not the option. */
const optionName = (name: string) => name.replace(/:v$/, '');

/**
 * h264_videotoolbox's options as FFmpeg's libavcodec/videotoolboxenc.c
 * declares them (h264_options and COMMON_OPTIONS, FFmpeg/FFmpeg 028a6ed1),
 * in the form `ffmpeg -h encoder=…` prints.
 */
const VIDEOTOOLBOX_TABLE = `h264_videotoolbox AVOptions:
  -profile           <int>        E..V....... Profile (from 0 to 5) (default auto)
     baseline        1            E..V.......
     main            2            E..V.......
     high            3            E..V.......
     extended        4            E..V.......
  -level             <int>        E..V....... Level (from 0 to 52) (default 0)
     1.3             13           E..V.......
     3.0             30           E..V.......
     3.1             31           E..V.......
     3.2             32           E..V.......
     4.0             40           E..V.......
     4.1             41           E..V.......
     4.2             42           E..V.......
     5.0             50           E..V.......
     5.1             51           E..V.......
     5.2             52           E..V.......
  -coder             <int>        E..V....... Entropy coding (from 0 to 2) (default 0)
     cavlc           1            E..V.......
     vlc             1            E..V.......
     cabac           2            E..V.......
     ac              2            E..V.......
  -a53cc             <boolean>    E..V....... Use A53 Closed Captions (if available) (default true)
  -allow_sw          <boolean>    E..V....... Allow software encoding (default false)
  -require_sw        <boolean>    E..V....... Require software encoding (default false)
  -realtime          <boolean>    E..V....... Hint that encoding should happen in real-time if not faster (default false)
  -frames_before     <boolean>    E..V....... Other frames will come before the frames in this session (default false)
  -frames_after      <boolean>    E..V....... Other frames will come after the frames in this session (default false)
`;

let listed: Set<string>;
let generic: OptionTable;
let filterGeneric: OptionTable;
let formats: Set<string>;
const encoderTables = new Map<string, OptionTable>();
/** Each filter's options; undefined for a filter this ffmpeg does not have. */
const filterTables = new Map<string, OptionTable | undefined>();

beforeAll(async () => {
  const [encoders, full] = await Promise.all([exec('ffmpeg', ['-hide_banner', '-encoders']), ffmpegHelp('full')]);
  listed = listedEncoders(encoders.stdout);
  generic = parseOptionTable(full, 'AVCodecContext');
  filterGeneric = parseOptionTable(full, 'AVFilter');
  formats = await pixelFormats();
  for (const encoder of ['libx264', ...HARDWARE]) {
    const help = await ffmpegHelp(`encoder=${encoder}`);
    const own = /is not recognized by FFmpeg/.test(help) ? (encoder === 'h264_videotoolbox' ? VIDEOTOOLBOX_TABLE : '') : help;
    encoderTables.set(encoder, parseOptionTable(own));
  }
});

/** The entry avcodec_open2 sets an encoder option on: the encoder's own first, else the generic one. */
function encoderOption(encoder: string, name: string): OptionSpec | undefined {
  return encoderTables.get(encoder)!.get(name) ?? generic.get(name);
}

/** Problems with a filter chain: unknown filters, options, values; positional options past the first. */
async function chainProblems(chain: string): Promise<string[]> {
  const problems: string[] = [];
  for (const name of chain.split(',').map((part) => part.split('=')[0]!)) {
    if (!filterTables.has(name)) {
      const help = await ffmpegHelp(`filter=${name}`);
      filterTables.set(name, help.startsWith(`Filter ${name}\n`) ? parseOptionTable(help) : undefined);
    }
    if (!filterTables.get(name)) problems.push(`no filter ${name} in this ffmpeg`);
  }
  for (const use of parseChain(chain, filterTables)) {
    if (!filterTables.get(use.name)) continue;
    if (use.ambiguous) problems.push(`${use.name}: a positional option after the first`);
    for (const [name, value] of use.options) {
      const spec = filterTables.get(use.name)!.get(name) ?? filterGeneric.get(name);
      if (!spec) problems.push(`${use.name}: no option ${name}`);
      else if (spec.flags[2] !== 'F') problems.push(`${use.name}: ${name} is not a filter option`);
      else {
        const problem = valueProblem(spec, value, formats);
        if (problem) problems.push(`${use.name}: ${problem}`);
        if (use.name === 'format' && name === 'pix_fmts') for (const f of value.split('|')) if (!formats.has(f)) problems.push(`format: no pixel format ${f}`);
      }
    }
  }
  return problems;
}

describe('the option checker can fail', () => {
  it('refuses what ffmpeg would take silently or not at all', async () => {
    // QSV has no level option of its own: the generic integer would round "4.1" down to level 4.
    expect(encoderTables.get('h264_qsv')!.has('level')).toBe(false);
    expect(integerValue(encoderOption('h264_qsv', 'level')!, '4.1')).toMatch(/rounded to 4/);
    expect(integerValue(encoderOption('h264_qsv', 'level')!, '41')).toBe(41);
    // VideoToolbox names level 4.0 "4.0"; "4" is the number 4, no level at all.
    expect(integerValue(encoderOption('h264_videotoolbox', 'level')!, '4.0')).toBe(40);
    expect(integerValue(encoderOption('h264_videotoolbox', 'level')!, '4')).toBe(4);
    expect(encoderOption('h264_qsv', 'strict_gop')).toBeUndefined();
    expect(valueProblem(encoderOption('h264_nvenc', 'preset')!, 'p9', formats)).toMatch(/neither a number nor one of/);
    expect(valueProblem(encoderOption('h264_nvenc', 'cq')!, '60', formats)).toMatch(/outside/);
    expect(await chainProblems('scale_cuda=w=1:h=1:format=yuv4200p,hwupload=extra_hw_frames=x,scale_qsv=1:2,nosuchfilter')).toEqual([
      'no filter nosuchfilter in this ffmpeg',
      'scale_cuda: -format yuv4200p: no such pixel format',
      'hwupload: -extra_hw_frames x: neither a number nor one of no constants',
      'scale_qsv: a positional option after the first',
    ]);
  });
});

describe('hardware encoder command lines', () => {
  it('this ffmpeg has the NVENC, QSV and VA-API encoders to check against', () => {
    for (const encoder of ['libx264', ...ON_DEVICE]) expect(listed.has(encoder), encoder).toBe(true);
    for (const encoder of ['libx264', ...HARDWARE]) expect(encoderTables.get(encoder)!.size, encoder).toBeGreaterThan(4);
  });

  it.each(HARDWARE)('%s: same timeline rules as libx264, device setup before the input', (encoder) => {
    const a = args(encoder);
    expect(has(a, '-c:v', encoder)).toBe(true);
    for (const seq of [['-copyts'], ['-fps_mode', 'passthrough'], ['-protocol_whitelist', 'file'], ['-profile:v', 'high'], ['-g', '100000']]) {
      expect(has(a, ...seq), `${encoder} ${seq.join(' ')}`).toBe(true);
    }
    const filters = a[a.indexOf('-vf') + 1]!;
    expect(filters).toMatch(/^trim=start_pts=\d+:end_pts=\d+,/);
    expect(filters).toMatch(/,setsar=1$/);
    expect(a.indexOf('-i')).toBeGreaterThan(a.indexOf('-copyts'));
    expect(a.indexOf('-hwaccel')).toBeGreaterThan(-1);
    expect(a.indexOf('-hwaccel')).toBeLessThan(a.indexOf('-i'));
  });

  it.each(['libx264', ...HARDWARE] as VideoEncoderName[])('%s: every encoder option and value is one it takes, the level as its level_idc', (encoder) => {
    for (const rendition of renditions) {
      const a = args(encoder, rendition);
      const options = encoderPairs(a);
      expect(options[0]).toEqual(['c:v', encoder]);
      for (const [name, value] of options.slice(1)) {
        const spec = encoderOption(encoder, optionName(name));
        expect(spec, `${encoder} -${name}`).toBeDefined();
        expect(`${spec!.flags[0]}${spec!.flags[3]}`, `${encoder} -${name} is a video encoding option`).toBe('EV');
        expect(valueProblem(spec!, value, formats), `${encoder} -${name} ${value}`).toBeUndefined();
      }
      const level = options.find(([name]) => name === 'level:v')![1];
      const spec = encoderOption(encoder, 'level')!;
      // libx264 takes its level as a string for x264_param_parse, which reads below 7 as "4.1", else as level_idc.
      if (spec.type === 'string') expect(Number(level) < 7 ? Math.round(10 * Number(level)) : Math.trunc(Number(level))).toBe(rendition.levelIdc);
      else expect(integerValue(spec, level), `${encoder} level`).toBe(rendition.levelIdc);
    }
  });

  it.each(['libx264', ...HARDWARE] as VideoEncoderName[])('%s: every filter and option of the chain is one this ffmpeg has, values included', async (encoder) => {
    for (const rendition of renditions) {
      const a = args(encoder, rendition);
      expect(await chainProblems(a[a.indexOf('-vf') + 1]!)).toEqual([]);
    }
  });

  it.each(ON_DEVICE)('%s: frames reach the device scaler through format=nv12|<device>,hwupload whether the decoder made them there or not', (encoder) => {
    const a = args(encoder);
    const filters = a[a.indexOf('-vf') + 1]!.split(',');
    const scaler = filters.findIndex((f) => f.startsWith(`scale_${HW_FORMAT[encoder]}=`));
    expect(scaler).toBeGreaterThan(1);
    expect(filters[scaler - 2]).toBe(`format=nv12|${HW_FORMAT[encoder]}`);
    expect(filters[scaler - 1]).toBe(encoder === 'h264_qsv' ? 'hwupload=extra_hw_frames=64' : 'hwupload');
    // One named device for the decoder, the upload and (through the frames) the encoder.
    expect(has(a, '-init_hw_device')).toBe(true);
    expect(a[a.indexOf('-init_hw_device') + 1]).toMatch(new RegExp(`^${HW_FORMAT[encoder]}=${HW_DEVICE_NAME}(:|$)`));
    for (const seq of [['-filter_hw_device', HW_DEVICE_NAME], ['-hwaccel', HW_FORMAT[encoder]], ['-hwaccel_device', HW_DEVICE_NAME], ['-hwaccel_output_format', HW_FORMAT[encoder]]]) {
      expect(has(a, ...seq), `${encoder} ${seq.join(' ')}`).toBe(true);
    }
    expect(formats.has(HW_FORMAT[encoder])).toBe(true);
  });

  /** A software-decoded source: 1080p frames in system memory, 8-bit 4:2:0 or 10-bit 4:4:4. */
  const softwareSource = (format: string) => ['-f', 'lavfi', '-i', `testsrc2=size=1920x1080:rate=24000/1001:duration=0.5,format=${format}`];

  it.each(ON_DEVICE)('%s: ffmpeg parses and initialises the whole chain on software frames and stops only where the upload needs the device', async (encoder) => {
    const chain = args(encoder)[args(encoder).indexOf('-vf') + 1]!;
    for (const format of ['yuv420p', 'yuv444p10le']) {
      const run = await runFfmpeg(['-loglevel', 'error', ...softwareSource(format), '-vf', chain, '-f', 'null', '-']);
      expect(run.stderr, `${encoder} ${format}`).not.toMatch(/Error initializing filter|No such filter|Impossible to convert|Option not found/);
      expect(run.stderr, `${encoder} ${format}`).toMatch(/Query format failed for 'Parsed_hwupload_\d+'/);
      // Control: without the upload, software frames cannot reach the device scaler (what the old chains did).
      const withoutUpload = chain.split(',').filter((f) => !f.startsWith('format=') && !f.startsWith('hwupload')).join(',');
      const old = await runFfmpeg(['-loglevel', 'error', ...softwareSource(format), '-vf', withoutUpload, '-f', 'null', '-']);
      expect(old.stderr, `${encoder} ${format} without hwupload`).toMatch(/Impossible to convert between the formats/);
    }
  });

  it('h264_videotoolbox: its chain runs in software on this ffmpeg', async () => {
    const chain = args('h264_videotoolbox')[args('h264_videotoolbox').indexOf('-vf') + 1]!.replace(/^trim=[^,]+,/, '');
    const run = await runFfmpeg(['-loglevel', 'error', ...softwareSource('yuv444p10le'), '-vf', chain, '-f', 'null', '-']);
    expect(run).toEqual({ code: 0, stderr: '' });
  });

  /** What each encoder's device initialisation says when there is no device. */
  const NO_DEVICE = {
    h264_nvenc: /\[h264_nvenc @ 0x[0-9a-f]+\] (Cannot load libcuda\.so\.1|No NVENC capable devices found|dl_fn->cuda_dl->cuInit\(0\) failed)/,
    h264_qsv: /\[h264_qsv @ 0x[0-9a-f]+\] Error (initializing an internal|creating a) MFX session/,
  };

  it.each(['h264_nvenc', 'h264_qsv'] as const)('%s: ffmpeg sets every encoder option, values included, and fails only in the device initialisation', async (encoder) => {
    for (const rendition of renditions) {
      const options = encoderPairs(args(encoder, rendition)).flatMap(([name, value]) => [`-${name}`, value]);
      const run = await runFfmpeg(['-loglevel', 'error', ...softwareSource('yuv420p'), '-frames:v', '1', ...options, '-f', 'null', '-']);
      expect(run.stderr, `${encoder} ${rendition.name}`).not.toMatch(/Error setting option|Unable to parse option value|Unrecognized option|Option not found|Invalid pixel format|is invalid or not supported/);
      // A machine with the device encodes the frame; one without fails in the encoder's init, after every option was set.
      if (run.code !== 0) expect(run.stderr, `${encoder} ${rendition.name}`).toMatch(NO_DEVICE[encoder]);
      // Control: the same run with one value the encoder does not know stops at that option.
      const broken = options.map((value, i) => (options[i - 1] === '-preset' ? `${value}x` : value));
      expect((await runFfmpeg(['-loglevel', 'error', ...softwareSource('yuv420p'), '-frames:v', '1', ...broken, '-f', 'null', '-'])).stderr).toMatch(/Error setting option preset to value/);
    }
  });

  it.each(HARDWARE)('%s: the device and hwaccel are ones this ffmpeg knows and tries to create', async (encoder) => {
    const a = args(encoder);
    const input = pairs(a, a.indexOf('-copyts') + 1, a.indexOf('-protocol_whitelist'));
    const init = input.find(([name]) => name === 'init_hw_device');
    if (init) {
      const run = await runFfmpeg(['-loglevel', 'error', '-init_hw_device', init[1], ...softwareSource('yuv420p'), '-frames:v', '1', '-f', 'null', '-']);
      expect(run.stderr).not.toMatch(/Invalid device specification/);
      if (run.code !== 0) expect(run.stderr).toMatch(/Device creation failed/);
      expect(input.find(([name]) => name === 'filter_hw_device')?.[1]).toBe(init[1].split('=')[1]!.split(':')[0]);
    } else {
      expect(encoder).toBe('h264_videotoolbox');
    }
    // The decoder's side, without the named device (whose creation fails first here): a known hwaccel, a known output format.
    const decoder = input.filter(([name]) => name.startsWith('hwaccel')).map(([name, value]) => (name === 'hwaccel_device' ? [] : [`-${name}`, value])).flat();
    const run = await runFfmpeg(['-loglevel', 'error', ...decoder, ...softwareSource('yuv420p'), '-frames:v', '1', '-f', 'null', '-']);
    expect(run.stderr).not.toMatch(/Unrecognized hwaccel|Unrecognised hwaccel output format|Unknown pixel format/);
    if (run.code !== 0) expect(run.stderr).toMatch(/Device creation failed|Device setup failed for decoder/);
    const output = input.find(([name]) => name === 'hwaccel_output_format');
    if (output) expect(formats.has(output[1]), output[1]).toBe(true);
  });

  it.each(HARDWARE)('%s: the trial encode is one frame on the device, its chain one this ffmpeg has', async (encoder) => {
    const a = trialArgs(encoder);
    expect(has(a, '-frames:v', '1')).toBe(true);
    expect(has(a, '-c:v', encoder)).toBe(true);
    if (a.includes('-vf')) expect(await chainProblems(a[a.indexOf('-vf') + 1]!)).toEqual([]);
    if (encoder === 'h264_qsv') expect(a).toContain('format=nv12,hwupload=extra_hw_frames=64');
    if (encoder === 'h264_vaapi') expect(a).toContain('format=nv12,hwupload');
    const run = await runFfmpeg(a.filter((x) => x !== '-hide_banner' && x !== '-nostdin'));
    // With no device, a trial fails for want of it (VideoToolbox: of the encoder, outside macOS), not for its arguments.
    if (run.code !== 0) expect(run.stderr).toMatch(
      { h264_nvenc: NO_DEVICE.h264_nvenc, h264_qsv: /Device creation failed/, h264_vaapi: /Device creation failed/, h264_videotoolbox: /Unknown encoder 'h264_videotoolbox'/ }[encoder],
    );
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
