import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { probeFile } from '../src/probe/probe-file.js';
import { probeWithFfprobe } from '../src/probe/ffprobe.js';
import { dynamicRangeOf, hdrFormatOf } from '../src/probe/colour.js';
import { makePlan } from '../src/plan/plan.js';
import { defaultStreamingConfig } from '../src/config/config.js';
import { box, withSampleEntryBoxes } from './support/sample-entry-boxes.js';
import { decodeFrames, expectSameVideo, parseM3u8, parseMpd } from './support/conformance.js';
import { hvcCodecString } from '../src/package/fmp4.js';
import { videoEncodeArgs } from '../src/transcode/ffmpeg-args.js';
import { hevcEncoderArgs } from '../src/transcode/hevc-args.js';
import { hevcLevelIdc } from '../src/plan/hevc-level.js';
import type { VideoRendition } from '../src/plan/plan.js';
import { exec, ffprobeJson, mediaFolder } from './support/media.js';
import { encoderWith, testServer, type TestServer } from './support/server.js';

/**
 * HDR sources (issue 15, part 3): an HDR10 HEVC MP4 (PQ, BT.2020, mastering
 * display and content light level in SEI; the MP4 probe) and an HLG HEVC MKV
 * (the ffprobe probe) come out as SDR BT.709 H.264, tone-mapped: a mid-grey
 * patch (38 % signal, BT.2408's 18 % grey, ~26 cd/m²) lands where the hable
 * curve puts it, not where a plain 10 → 8-bit cut would, every frame of every
 * segment alike, on the source's frames.
 */

const MEDIA_DIR = path.join(os.tmpdir(), 'jitseg-test-media', 'hdr');
const SIZE = { width: 320, height: 180 };
/**
 * Three 80×90 patches in a row on a moving test pattern, 10-bit limited-range Y'CbCr:
 * mid-grey (38 % signal: BT.2408's 18 % grey, ~26 cd/m², in PQ and HLG alike), reference white
 * (203 cd/m²: PQ 58 %, HLG 75 %) and a colour (Cb 472, Cr 592 at the grey's Y).
 */
const PATCHES = { grey: { x: 20 }, white: { x: 120 }, colour: { x: 220 } } as const;
const PATCH = { y: 45, width: 80, height: 90, grey10: 397 };
const WHITE10 = { smpte2084: 572, 'arib-std-b67': 721 } as const;
/** What is measured: a patch's middle, away from its edges (chroma siting, encoder blocks). */
const measureCrop = (patch: keyof typeof PATCHES) => `crop=40:50:${PATCHES[patch].x + 20}:${PATCH.y + 20}`;

const MASTERING = 'G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)';
const MAX_CLL = 1000;

function sourceArgs(transfer: 'smpte2084' | 'arib-std-b67'): string[] {
  const hdr10 = transfer === 'smpte2084' ? `:master-display=${MASTERING}:max-cll=${MAX_CLL},400` : '';
  const { grey, white, colour } = PATCHES;
  return [
    '-f', 'lavfi', '-i', `testsrc2=size=${SIZE.width}x${SIZE.height}:rate=25:duration=6`,
    '-f', 'lavfi', '-i', `color=c=gray:size=${PATCH.width}x${PATCH.height}:rate=25:duration=6`,
    '-filter_complex',
    '[0:v]format=yuv420p10le[bg];[1:v]format=yuv420p10le,split=3[a][b][c];' +
      `[a]lutyuv=y=${PATCH.grey10}:u=512:v=512[g];[b]lutyuv=y=${WHITE10[transfer]}:u=512:v=512[w];[c]lutyuv=y=${PATCH.grey10}:u=472:v=592[c];` +
      `[bg][g]overlay=x=${grey.x}:y=${PATCH.y}[t1];[t1][w]overlay=x=${white.x}:y=${PATCH.y}[t2];[t2][c]overlay=x=${colour.x}:y=${PATCH.y},format=yuv420p10le`,
    '-c:v', 'libx265', '-preset', 'ultrafast',
    '-x265-params', `log-level=error:keyint=50:min-keyint=50:scenecut=0:colorprim=bt2020:transfer=${transfer}:colormatrix=bt2020nc${hdr10}`,
    '-color_primaries', 'bt2020', '-color_trc', transfer, '-colorspace', 'bt2020nc',
  ];
}

async function source(file: string, args: string[]): Promise<string> {
  const target = path.join(MEDIA_DIR, file);
  if (existsSync(target)) return target;
  await mkdir(MEDIA_DIR, { recursive: true });
  const temp = path.join(MEDIA_DIR, `tmp-${process.pid}-${file}`);
  await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args, ...(file.endsWith('.mp4') ? ['-tag:v', 'hvc1'] : []), temp]);
  await rename(temp, target);
  return target;
}

interface PatchStats {
  y: number;
  u: number;
  v: number;
}

type Patch = keyof typeof PATCHES;
const PATCH_NAMES = Object.keys(PATCHES) as Patch[];

/** Mean Y, U and V of every patch in every decoded frame of `map`, in the given pixel format's code values (one decode). */
async function patchStats(url: string, map: string, pixFmt: 'yuv420p' | 'yuv420p10le'): Promise<Record<Patch, PatchStats[]>> {
  const branches = PATCH_NAMES.map((p) => `[${p}]${measureCrop(p)},signalstats,metadata@${p}=print[${p}out]`);
  const graph = `[${map}]format=${pixFmt},split=${PATCH_NAMES.length}${PATCH_NAMES.map((p) => `[${p}]`).join('')};${branches.join(';')}`;
  const outputs = PATCH_NAMES.flatMap((p) => ['-map', `[${p}out]`, '-f', 'null', '-']);
  const { stderr } = await exec('ffmpeg', ['-hide_banner', '-nostats', '-loglevel', 'info', '-i', url, '-filter_complex', graph, ...outputs], { maxBuffer: 1 << 26 });
  const result = {} as Record<Patch, PatchStats[]>;
  for (const patch of PATCH_NAMES) {
    const all = (key: string) => [...stderr.matchAll(new RegExp(`\\[metadata@${patch} @ [^\\]]+\\] lavfi\\.signalstats\\.${key}=([\\d.]+)`, 'g'))].map((m) => Number(m[1]));
    const [y, u, v] = [all('YAVG'), all('UAVG'), all('VAVG')];
    if (y.length === 0 || u.length !== y.length || v.length !== y.length) throw new Error(`no ${patch} patch measured from ${url}`);
    result[patch] = y.map((value, i) => ({ y: value, u: u[i]!, v: v[i]! }));
  }
  return result;
}

const average = (stats: PatchStats[]): PatchStats => ({ y: mean(stats.map((s) => s.y)), u: mean(stats.map((s) => s.u)), v: mean(stats.map((s) => s.v)) });
/** Distance from neutral grey in the chroma plane (8-bit code values). */
const chroma = (s: PatchStats, neutral = 128) => Math.hypot(s.u - neutral, s.v - neutral);
/** The first decoded frame of every segment of a media playlist, each segment joined to the init alone. */
async function segmentFirstFrames(playlistUrl: string): Promise<Array<Record<string, any>>> {
  const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
  const init = Buffer.from(await (await fetch(new URL(playlist.segments[0].map.uri, playlistUrl))).arrayBuffer());
  const frames: Array<Record<string, any>> = [];
  for (const [i, segment] of playlist.segments.entries()) {
    const body = Buffer.from(await (await fetch(new URL(segment.uri, playlistUrl))).arrayBuffer());
    const joined = path.join(MEDIA_DIR, `joined-${process.pid}-${i}.mp4`);
    await writeFile(joined, Buffer.concat([init, body]));
    const entries = 'frame=color_primaries,color_transfer,color_space,color_range,pix_fmt:frame_side_data_list';
    frames.push((await ffprobeJson(['-read_intervals', '%+#1', '-show_frames', '-show_entries', entries, joined])).frames[0]);
  }
  return frames;
}

const sideDataTypes = (frame: Record<string, any>): string[] => (frame.side_data_list ?? []).map((sd: { side_data_type: string }) => sd.side_data_type);

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** SMPTE ST 2084 EOTF: signal (0–1) → cd/m². */
function pqToNits(signal: number): number {
  const [m1, m2, c1, c2, c3] = [2610 / 16384, (2523 / 4096) * 128, 3424 / 4096, (2413 / 4096) * 32, (2392 / 4096) * 32];
  const p = signal ** (1 / m2);
  return 10_000 * (Math.max(p - c1, 0) / (c2 - c3 * p)) ** (1 / m1);
}

/** BT.2100 HLG: signal → display light on the nominal 1,000 cd/m² display (inverse OETF, then the OOTF, γ 1.2). */
function hlgToNits(signal: number): number {
  const [a, b, c] = [0.17883277, 1 - 4 * 0.17883277, 0.5 - 0.17883277 * Math.log(4 * 0.17883277)];
  const scene = signal <= 0.5 ? (signal * signal) / 3 : (Math.exp((signal - c) / a) + b) / 12;
  return 1000 * scene ** 1.2;
}

/**
 * What tonemap=hable (FFmpeg's constants) with this peak makes of a grey of `nits`, as 8-bit limited-range Y:
 * 100 cd/m² is 1.0, and zimg encodes display light for a BT.1886 display (inverse EOTF, γ 2.4), not with
 * the camera OETF.
 */
function hableSdrLuma(nits: number, peakNits: number): number {
  const [A, B, C, D, E, F] = [0.15, 0.5, 0.1, 0.2, 0.02, 0.3];
  const hable = (x: number) => (x * (A * x + C * B) + D * E) / (x * (A * x + B) + D * F) - E / F;
  const light = hable(nits / 100) / hable(peakNits / 100);
  return 16 + 219 * light ** (1 / 2.4);
}

/**
 * How far a tone-mapped patch may be from the curve's value, in 8-bit code values: the source patch is
 * measured (x265 moved the grey from 397 to 398), and what is left is the H.264 encode of a flat patch
 * (CRF 23) and zimg's float path.
 */
const CURVE_TOLERANCE = 1.5;
/**
 * A plain 10 → 8-bit cut takes PQ's reference white (203 cd/m², 58 % signal) for Y 143, a light grey: the
 * washed-out picture. The curve puts it at ~181.
 */
const MIN_WHITE_DIFFERENCE_FROM_CUT = 20;
/** A plain cut reads BT.2020 chroma as BT.709 and loses saturation: the tone-mapped colour must be this much more saturated. */
const MIN_SATURATION_GAIN = 1.3;

describe('HDR sources: tone-mapped to SDR BT.709', () => {
  let server: TestServer;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    files['hdr10.mp4'] = await source('hdr10-pq.mp4', sourceArgs('smpte2084'));
    files['hlg.mkv'] = await source('hlg.mkv', sourceArgs('arib-std-b67'));
    server = await testServer(await mediaFolder(files), { segment_duration: 2, hdr: 'keep', encoder: encoderWith({ preset: 'ultrafast' }) });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('both probes read the colour and the HDR10 metadata', async () => {
    const pq = await probeFile(files['hdr10.mp4']!, { decodeCheck: false });
    expect(pq.prober).toBe('mp4box');
    expect(pq.video.colour).toMatchObject({
      primaries: 'bt2020', transfer: 'smpte2084', matrix: 'bt2020nc', range: 'tv',
      // From the SEI of the first frame: FFmpeg's MP4 muxer writes no mdcv/clli box.
      mastering: { green: [13250, 34500], blue: [7500, 3000], red: [34000, 16000], whitePoint: [15635, 16450], maxLuminance: 10_000_000, minLuminance: 1 },
      contentLight: { maxCll: MAX_CLL, maxFall: 400 },
    });
    const hlg = await probeFile(files['hlg.mkv']!, { decodeCheck: false });
    expect(hlg.prober).toBe('ffprobe');
    expect(hlg.video.colour).toEqual({ primaries: 'bt2020', transfer: 'arib-std-b67', matrix: 'bt2020nc', range: 'tv' });
  });

  it('both probes read mdcv, clli and dvcC from an MP4 sample entry alike; the peak is MaxCLL', async () => {
    // Container values that differ from the SEI's (4,000 cd/m² mastering peak, MaxCLL 1,500): the container's win.
    const mdcv = Buffer.alloc(24);
    [13250, 34500, 7500, 3000, 34000, 16000, 15635, 16450].forEach((v, i) => mdcv.writeUInt16BE(v, 2 * i));
    mdcv.writeUInt32BE(40_000_000, 16);
    mdcv.writeUInt32BE(50, 20);
    const clli = Buffer.alloc(4);
    clli.writeUInt16BE(1500, 0);
    clli.writeUInt16BE(300, 2);
    // Dolby Vision 1.0, profile 8, level 6, RPU and base layer present, base layer compatible with HDR10 (id 1).
    const dvcC = Buffer.alloc(24);
    dvcC[0] = 1;
    dvcC.writeUInt16BE((8 << 9) | (6 << 3) | 0b101, 2);
    dvcC[4] = 1 << 4;
    const crafted = path.join(MEDIA_DIR, `dv-${process.pid}.mp4`);
    await withSampleEntryBoxes(files['hdr10.mp4']!, crafted, [box('mdcv', mdcv), box('clli', clli), box('dvcC', dvcC)]);

    const expected = {
      primaries: 'bt2020', transfer: 'smpte2084', matrix: 'bt2020nc', range: 'tv',
      mastering: { green: [13250, 34500], blue: [7500, 3000], red: [34000, 16000], whitePoint: [15635, 16450], maxLuminance: 40_000_000, minLuminance: 50 },
      contentLight: { maxCll: 1500, maxFall: 300 },
      dolbyVision: { profile: 8, level: 6, blCompatibilityId: 1, rpu: true, el: false },
    };
    const fast = await probeFile(crafted, { decodeCheck: false });
    expect(fast.prober).toBe('mp4box');
    expect(fast.video.colour).toEqual(expected);
    expect((await probeWithFfprobe(crafted)).video.colour).toEqual(expected);
    expect(hdrFormatOf(fast.video.colour)).toBe('Dolby Vision 8.1 (HDR10 base)');
    expect(makePlan(fast, defaultStreamingConfig()).toneMap?.peakNits).toBe(1500);
  });

  it.each(['h264_nvenc', 'h264_qsv', 'h264_vaapi'] as const)('%s: tone-mapped in software, then uploaded: ffmpeg initialises the whole chain and stops only at the upload', async (encoder) => {
    const probe = await probeFile(files['hdr10.mp4']!, { decodeCheck: false });
    const plan = makePlan(probe, defaultStreamingConfig());
    const args = videoEncodeArgs(files['hdr10.mp4']!, plan, plan.renditions[0]!, plan.videoSegments[1]!, '/dev/null', { encoder });
    // zscale cannot reach frames on a device: the source is decoded in software.
    expect(args).not.toContain('-hwaccel');
    const chain = args[args.indexOf('-vf') + 1]!.replace(/^trim=[^,]+,/, '');
    expect(chain).toMatch(/^zscale=.*tonemap=tonemap=hable:desat=0:peak=10,.*format=yuv420p,format=nv12\|\w+,hwupload/);
    const { stderr } = await exec('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=25:duration=0.2,format=yuv420p10le', '-vf', chain, '-f', 'null', '-']).catch((err: { stderr: string }) => ({ stderr: err.stderr }));
    expect(stderr).not.toMatch(/Error initializing filter|No such filter|Impossible to convert|Option not found/);
    expect(stderr).toMatch(/Query format failed for 'Parsed_hwupload_\d+'/);
  });

  it.each([
    [1920, 1080, 24, 4000],
    [1920, 1080, 60, 4000],
    [1280, 720, 25, 2500],
    [854, 480, 30, 1200],
  ])('the HEVC level planned for %ix%i at %i fps, %i kb/s is the one x265 writes', async (width, height, fps, rate) => {
    const levelIdc = hevcLevelIdc(width, height, fps, rate);
    const rendition = { width, height, maxrateKbps: rate, bufsizeKbps: rate, crf: 23, levelIdc } as VideoRendition;
    const hdr = { colorprim: 'bt2020', transfer: 'smpte2084', colormatrix: 'bt2020nc', range: 'limited' } as const;
    const out = path.join(MEDIA_DIR, `level-${process.pid}-${width}x${height}-${fps}.hevc`);
    await exec('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=${fps}`, '-frames:v', '2',
      '-vf', 'format=yuv420p10le', ...hevcEncoderArgs(rendition, hdr, 'ultrafast'), '-f', 'hevc', out,
    ]);
    const { streams } = await ffprobeJson(['-show_entries', 'stream=level,profile', out]);
    expect(streams[0]).toEqual({ profile: 'Main 10', level: levelIdc });
  });

  it('names the dynamic range of Dolby Vision by its base layer when the VUI leaves the transfer out', () => {
    const dv = (blCompatibilityId: number) => ({ dolbyVision: { profile: 8, level: 6, blCompatibilityId, rpu: true, el: false } });
    expect(dynamicRangeOf(dv(1))).toBe('PQ');
    expect(dynamicRangeOf(dv(4))).toBe('HLG');
    expect(hdrFormatOf(dv(4))).toBe('Dolby Vision 8.4 (HLG base)');
    // Profile 5 (IPTPQc2) has no base layer a non-Dolby decoder shows right: not tone-mapped as if it were PQ.
    expect(dynamicRangeOf({ dolbyVision: { profile: 5, level: 6, blCompatibilityId: 0, rpu: true, el: false } })).toBe('SDR');
    expect(dynamicRangeOf({ transfer: 'smpte2084', hdr10Plus: true })).toBe('PQ');
    expect(hdrFormatOf({ transfer: 'smpte2084', hdr10Plus: true })).toBe('HDR10+');
  });

  describe.each([
    { file: 'hdr10.mp4', transfer: 'smpte2084' as const, toNits: pqToNits, peakNits: MAX_CLL },
    { file: 'hlg.mkv', transfer: 'arib-std-b67' as const, toNits: hlgToNits, peakNits: 1000 },
  ])('$file', ({ file, transfer, toNits, peakNits }) => {
    it('plays as SDR BT.709 H.264, tone-mapped, on the source frames', async () => {
      const master = `${server.url}/vod/${file}/master.m3u8`;
      const hls = parseM3u8(await (await fetch(master)).text());
      // The H.264 variant is listed first (players start on it); the HEVC one is the hdr: keep test's.
      expect(hls.playlists.length).toBe(2);
      const variant = hls.playlists[0];
      expect(variant.attributes['VIDEO-RANGE']).toBe('SDR');
      expect(variant.attributes.CODECS).toMatch(/^avc1\.64/);
      const content = await (await fetch(`${server.url}/api/v1/content`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: file }) })).json();
      const info = await (await fetch(`${server.url}/api/v1/content/${content.hash}/info`)).json();
      expect(info.hdr).toEqual({ format: transfer === 'smpte2084' ? 'HDR10' : 'HLG', toneMappedFrom: transfer === 'smpte2084' ? 'PQ' : 'HLG', peakNits: peakNits });
      const playlistUrl = new URL(variant.uri, master).href;
      const src = files[file]!;

      // Frame-exact across the joins: the source's frames on the source's timestamps.
      const truth = await decodeFrames(src, '0:v:0');
      expectSameVideo('tone-mapped rendition', await decodeFrames(master, '0:p:0:v'), truth);

      const [source10, cut8, streamed] = await Promise.all([
        patchStats(src, '0:v:0', 'yuv420p10le'),
        patchStats(src, '0:v:0', 'yuv420p'),
        patchStats(playlistUrl, '0:v:0', 'yuv420p'),
      ]);
      for (const patch of ['grey', 'white'] as const) {
        // The source's patch in 10-bit code values, what the tone curve makes of it, and what a plain cut does.
        const signal = (average(source10[patch]).y - 64) / 876;
        const expected = hableSdrLuma(toNits(signal), peakNits);
        const cut = average(cut8[patch]).y;
        expect(streamed[patch].length).toBe(truth.length);
        // Every frame of every segment: one curve with one peak, whatever frame a segment's decode starts at.
        for (const [i, s] of streamed[patch].entries()) {
          if (Math.abs(s.y - expected) > CURVE_TOLERANCE) {
            throw new Error(`${patch} patch, frame ${i}: Y ${s.y.toFixed(2)}, the tone curve gives ${expected.toFixed(2)} (a plain cut: ${cut.toFixed(2)})`);
          }
        }
        // PQ's white is where a plain cut shows: HLG is made to look right on SDR screens, and its white (and
        // either's 18 % grey) comes out of a plain cut within a few code values of the curve.
        if (patch === 'white' && transfer === 'smpte2084') {
          expect(expected - cut, `reference white: curve ${expected.toFixed(1)}, plain cut ${cut.toFixed(1)}`).toBeGreaterThanOrEqual(MIN_WHITE_DIFFERENCE_FROM_CUT);
        }
      }
      const [cutColour, streamedColour] = [average(cut8.colour), average(streamed.colour)];
      expect(chroma(streamedColour), `saturation: tone-mapped ${chroma(streamedColour).toFixed(1)}, plain cut ${chroma(cutColour).toFixed(1)}`)
        .toBeGreaterThanOrEqual(MIN_SATURATION_GAIN * chroma(cutColour));

      // Every segment on its own says BT.709 (its first frame decodes with the SPS the stream carries there).
      const firstFrames = await segmentFirstFrames(playlistUrl);
      expect(firstFrames.length).toBeGreaterThanOrEqual(3);
      for (const [i, frame] of firstFrames.entries()) {
        expect(frame, `segment ${i + 1}`).toMatchObject({ pix_fmt: 'yuv420p', color_range: 'tv', color_space: 'bt709', color_primaries: 'bt709', color_transfer: 'bt709' });
        // No HDR metadata left on an SDR picture.
        expect(sideDataTypes(frame), `segment ${i + 1}`).not.toContain('Mastering display metadata');
        expect(sideDataTypes(frame), `segment ${i + 1}`).not.toContain('Content light level metadata');
      }
    });

    it('with hdr: keep, also an HEVC Main 10 rendition in the source\'s PQ/HLG, tagged, frame-exact', async () => {
      const master = `${server.url}/vod/${file}/master.m3u8`;
      const hls = parseM3u8(await (await fetch(master)).text());
      const variant = hls.playlists.find((p: { attributes: { CODECS: string } }) => p.attributes.CODECS.startsWith('hvc1'));
      expect(variant, 'an HEVC variant').toBeDefined();
      expect(variant.attributes['VIDEO-RANGE']).toBe(transfer === 'smpte2084' ? 'PQ' : 'HLG');
      // 320×180 at 25 fps: level 2 (general_level_idc 60).
      expect(variant.attributes.CODECS).toBe('hvc1.2.4.L60.90');
      const playlistUrl = new URL(variant.uri, master).href;
      const playlist = parseM3u8(await (await fetch(playlistUrl)).text());
      const init = new Uint8Array(await (await fetch(new URL(playlist.segments[0].map.uri, playlistUrl))).arrayBuffer());
      expect(hvcCodecString(init), 'init codec = declared CODECS').toBe(variant.attributes.CODECS);
      expectSameVideo('HDR rendition', await decodeFrames(playlistUrl, '0:v:0'), await decodeFrames(files[file]!, '0:v:0'));

      const firstFrames = await segmentFirstFrames(playlistUrl);
      for (const [i, frame] of firstFrames.entries()) {
        expect(frame, `segment ${i + 1}`).toMatchObject({ pix_fmt: 'yuv420p10le', color_range: 'tv', color_space: 'bt2020nc', color_primaries: 'bt2020', color_transfer: transfer });
        if (transfer === 'smpte2084') {
          // x265's SEI on every segment's first picture: the source's mastering display and light levels.
          const sd = frame.side_data_list as Array<Record<string, unknown>>;
          expect(sd.find((d) => d.side_data_type === 'Mastering display metadata'), `segment ${i + 1}`).toMatchObject({ max_luminance: '10000000/10000', green_x: '13250/50000' });
          expect(sd.find((d) => d.side_data_type === 'Content light level metadata'), `segment ${i + 1}`).toMatchObject({ max_content: MAX_CLL, max_average: 400 });
        }
      }
      // The grey keeps its HDR code value (no tone mapping on this rendition).
      const grey = average((await patchStats(playlistUrl, '0:v:0', 'yuv420p10le')).grey).y;
      const sourceGrey = average((await patchStats(files[file]!, '0:v:0', 'yuv420p10le')).grey).y;
      expect(Math.abs(grey - sourceGrey), `grey ${grey.toFixed(1)} vs the source's ${sourceGrey.toFixed(1)}`).toBeLessThanOrEqual(4);

      const mpd = await (await fetch(`${server.url}/vod/${file}/manifest.mpd`)).text();
      const cicpTransfer = transfer === 'smpte2084' ? 16 : 18;
      expect(mpd).toContain(`<SupplementalProperty schemeIdUri="urn:mpeg:mpegB:cicp:TransferCharacteristics" value="${cicpTransfer}"/>`);
      const dash = parseMpd(mpd, { manifestUri: `${server.url}/vod/${file}/manifest.mpd` });
      expect(dash.playlists.map((p: { attributes: { CODECS: string } }) => p.attributes.CODECS).sort()).toEqual([hls.playlists[0].attributes.CODECS.split(',')[0], variant.attributes.CODECS.split(',')[0]].sort());
    });
  });
});
