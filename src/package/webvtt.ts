/**
 * WebVTT as jitseg serves it, in pure code: the whole track (ffmpeg's
 * conversion, cue times on the source timeline) is parsed once into cues,
 * then cut into HLS segments that follow the video's cuts, or written as one
 * file on the presentation timeline for DASH.
 *
 * WebVTT counts milliseconds; cue times are kept to the millisecond they
 * have, never rounded again on the way.
 */

export interface Cue {
  /** Source timeline, milliseconds. */
  startMs: number;
  endMs: number;
  /** Cue settings after the timing ("line:90% align:center"), or "". */
  settings: string;
  /** The cue text (may hold <b>, <i>, <u>, <c>, …), lines joined by "\n". */
  text: string;
}

const TIMING = /^((?:\d+:)?\d{2}:\d{2}\.\d{3})[ \t]+-->[ \t]+((?:\d+:)?\d{2}:\d{2}\.\d{3})(.*)$/;

function parseTime(value: string): number {
  const parts = value.split(':');
  const [seconds, millis] = parts.pop()!.split('.');
  const minutes = Number(parts.pop());
  const hours = parts.length > 0 ? Number(parts.pop()) : 0;
  return ((hours * 60 + minutes) * 60 + Number(seconds)) * 1000 + Number(millis);
}

export function formatTime(ms: number): string {
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor(ms / 60_000) % 60;
  const seconds = Math.floor(ms / 1000) % 60;
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(hours)}:${pad(minutes)}:${pad(seconds)}.${pad(ms % 1000, 3)}`;
}

/** The cues of a WebVTT file, in file order (NOTE, STYLE and REGION blocks are dropped). */
export function parseWebVtt(text: string): Cue[] {
  const blocks = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').split(/\n{2,}/);
  const cues: Cue[] = [];
  for (const block of blocks) {
    const lines = block.split('\n');
    // A cue may start with an identifier line; its timing line is the first or second.
    const at = lines.findIndex((line, i) => i < 2 && TIMING.test(line));
    if (at < 0) continue;
    const [, start, end, settings] = TIMING.exec(lines[at]!)!;
    const body = lines.slice(at + 1).join('\n').trim();
    if (body === '') continue;
    cues.push({ startMs: parseTime(start!), endMs: parseTime(end!), settings: settings!.trim(), text: body });
  }
  return cues;
}

/** A cue's text may not hold "-->" or a blank line (it would end the cue). */
const safeText = (text: string) => text.replace(/-->/g, '--&gt;').replace(/\n{2,}/g, '\n');

function cueBlock(cue: Cue, shiftMs = 0): string {
  const timing = `${formatTime(cue.startMs + shiftMs)} --> ${formatTime(cue.endMs + shiftMs)}`;
  return `${timing}${cue.settings ? ` ${cue.settings}` : ''}\n${safeText(cue.text)}`;
}

/**
 * An HLS WebVTT segment: the cues that overlap [fromMs, toMs) of the source
 * timeline (a cue that spans a cut is in both segments; players drop the
 * repeat), at their own times, with X-TIMESTAMP-MAP tying source time 0 to
 * `mpegts` (90 kHz), the fMP4 timeline's value for it.
 */
export function webVttSegment(cues: readonly Cue[], fromMs: number, toMs: number, mpegts: number, last: boolean): string {
  const header = `WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:${mpegts},LOCAL:00:00:00.000\n`;
  // An instant cue belongs where it starts; the last segment also keeps cues that start after the video ends.
  const inside = cues.filter((c) => (c.startMs < toMs || last) && (c.endMs > fromMs || (c.endMs === c.startMs && c.startMs >= fromMs)));
  return [header, ...inside.map((c) => `${cueBlock(c)}\n`)].join('\n');
}

/**
 * The whole track as one WebVTT file on the presentation timeline (DASH):
 * every time moved by `shiftMs` (an integer), cues that end before 0 dropped
 * and one that starts before 0 starting at 0.
 */
export function webVttWhole(cues: readonly Cue[], shiftMs: number): string {
  const kept = cues
    .filter((c) => c.endMs + shiftMs > 0)
    .map((c) => (c.startMs + shiftMs < 0 ? { ...c, startMs: -shiftMs } : c));
  return ['WEBVTT\n', ...kept.map((c) => `${cueBlock(c, shiftMs)}\n`)].join('\n');
}
