/**
 * Decode times for one video fragment whose samples keep their presentation
 * times, such that
 *  - the first sample decodes at the earliest presentation time (tfdt = the
 *    fragment's earliest presentation time, so players that anchor on tfdt,
 *    like hls.js, and those that read presentation times agree, with no edit list);
 *  - no sample decodes after it is presented (every composition offset is
 *    ≥ 0: FFmpeg's fragmented-MP4 demuxer presents a track late by its most
 *    negative offset so far, since it does not move fragment decode times by it);
 *  - decode times strictly increase, and the last sample lasts until
 *    `nextStart` without any sample's presentation reaching past it.
 *
 * With B-frames a sample is presented up to `lag` after the earlier-presented
 * ones that follow it in decode order, so decoding runs `lag` ahead of the
 * sorted presentation times (x264's own schedule). A fragment that must start
 * with decode = presentation gets there by shortening its first few decode
 * intervals (a linear ramp), and returns to decode = presentation for its last
 * sample by lengthening its last ones. Sample durations are decode intervals
 * (ISO/IEC 14496-12): only these few differ from the frame interval.
 */
export function fragmentDecodeTimes(presentation: readonly number[], nextStart: number): number[] {
  const n = presentation.length;
  if (n === 0) throw new Error('fragment has no samples');
  const sorted = [...presentation].sort((a, b) => a - b);
  const first = sorted[0]!;
  if (nextStart <= sorted[n - 1]!) throw new Error(`next segment starts at ${nextStart}, before this one's last frame at ${sorted[n - 1]}`);
  // The lag x264's reordering needs: sample i must not decode after its presentation.
  let lag = 0;
  for (let i = 0; i < n; i++) lag = Math.max(lag, sorted[i]! - presentation[i]!);
  // Latest allowed decode times: at or before presentation, strictly increasing, the last one exactly at its presentation.
  const latest = new Array<number>(n);
  latest[n - 1] = presentation[n - 1]!;
  for (let i = n - 2; i >= 0; i--) latest[i] = Math.min(presentation[i]!, latest[i + 1]! - 1);
  if (latest[0]! < first) throw new Error('samples are presented too close together to decode in order');

  // The ramp: the lag grows over the first `rampSamples` decode slots, each shortened by lag / rampSamples.
  const interval = medianInterval(sorted);
  const rampSamples = Math.ceil(lag / interval) + 1;
  const decode = sorted.map((time, i) => Math.min(latest[i]!, time - Math.round((lag * Math.min(i, rampSamples)) / rampSamples)));
  decode[0] = first;
  for (let i = 1; i < n; i++) decode[i] = Math.max(decode[i]!, decode[i - 1]! + 1);
  // The tail: no sample's presentation may run past nextStart (its duration is the decode interval that follows it).
  decode[n - 1] = latest[n - 1]!;
  for (let i = n - 2; i >= 1; i--) decode[i] = Math.max(decode[i]!, decode[i + 1]! - (nextStart - presentation[i]!));

  for (let i = 0; i < n; i++) {
    if (decode[i]! > presentation[i]! || (i > 0 && decode[i]! <= decode[i - 1]!)) throw new Error(`no decode order fits sample ${i}`);
  }
  return decode;
}

function medianInterval(sorted: readonly number[]): number {
  const gaps = sorted.slice(1).map((time, i) => time - sorted[i]!).sort((a, b) => a - b);
  return Math.max(1, gaps[gaps.length >> 1] ?? 1);
}
