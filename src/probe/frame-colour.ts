/**
 * The first frame's colour, for what a container does not carry: HEVC keeps
 * its mastering display and content light level in SEI messages, and
 * FFmpeg's MP4 and Matroska muxers do not copy them into the container, nor
 * HDR10+ metadata; an HEVC MP4 without a colr box has its colour only in the
 * VUI. One ffprobe decode of one frame (~60 ms), run only for such sources.
 */
import { sourceInput } from '../process/source-input.js';
import { colourFromFfprobe, dynamicRangeOf, mergeColour, type FfprobeColourFields } from './colour.js';
import { runOnMedia } from './ffprobe.js';
import { ProbeError } from './errors.js';
import type { ProbeResult } from './types.js';

/** Codecs that carry HDR: a 10-bit-capable codec whose colour the MP4 path found nowhere is asked of its first frame. */
const HDR_CAPABLE = new Set(['hevc', 'av1', 'vp9']);

interface FrameColourOutput {
  frames?: FfprobeColourFields[];
}

export function needsFrameColour(probe: ProbeResult): boolean {
  const { colour, codec } = probe.video;
  // PQ: the peak to tone-map from is in the metadata, and HDR10+ lives in the frames only (HLG needs neither).
  if (dynamicRangeOf(colour) === 'PQ') return !colour?.hdr10Plus && !colour?.dolbyVision;
  // ffprobe's stream fields already come from the VUI; the MP4 path read only the container's colr box.
  return probe.prober === 'mp4box' && colour?.transfer === undefined && HDR_CAPABLE.has(codec);
}

/** The probe with its colour completed from the first frame (the container's own values win). */
export async function withFrameColour(probe: ProbeResult, path: string, deadline: number): Promise<ProbeResult> {
  const args = [
    '-v', 'error', '-print_format', 'json', '-select_streams', `v:${probe.video.index}`, '-read_intervals', '%+#1', '-show_frames',
    '-show_entries', 'frame=color_primaries,color_transfer,color_space,color_range:frame_side_data_list', ...sourceInput(path),
  ];
  let text: string;
  try {
    text = await runOnMedia('ffprobe', args, 'ffprobe cannot decode the first frame', deadline);
  } catch (err) {
    // A first frame that does not decode is the decode check's to report (decode-check.ts); the colour stays unknown.
    if (err instanceof ProbeError && err.kind === 'not-media') return probe;
    throw err;
  }
  const frame = (JSON.parse(text) as FrameColourOutput).frames?.[0];
  if (!frame) return probe;
  const colour = mergeColour(probe.video.colour, colourFromFfprobe(frame));
  return colour ? { ...probe, video: { ...probe.video, colour } } : probe;
}
