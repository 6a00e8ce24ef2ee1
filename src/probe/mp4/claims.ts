/**
 * Counts bounded by the bytes that describe them. A sample table starts with
 * an entry count, and that count sizes allocations — ours (typed arrays per
 * sample), mp4box's (one object per edit) and ffmpeg's (an index entry per
 * sample). A crafted 10 KB file may claim 200 million samples; the claim is
 * checked against the box's own bytes (or, for a constant sample size,
 * against the file's size: every sample is bytes of the file) before
 * anything is allocated, and a claim the bytes cannot back is refused.
 * ffmpeg's mov demuxer cannot read such a table either, so there is no
 * fallback to ffprobe for it. (An edit list that claims more edits than it
 * holds is read as far as its bytes go, as ffmpeg does: its count sizes no
 * allocation.)
 */
import { ProbeError } from '../errors.js';
import { fullBoxPayload, type BoxRange, type SampleTables } from './boxes.js';

/** Bytes per entry after the entry count, by table. */
const ENTRY_BYTES = { stts: 8, ctts: 8, stss: 4, stps: 4, stsc: 12, stco: 4, co64: 8 } as const;

export function assertClaimsFit(tables: SampleTables, view: DataView, fileSize: number): void {
  for (const [type, bytes] of Object.entries(ENTRY_BYTES) as Array<[keyof typeof ENTRY_BYTES, number]>) {
    const box = tables[type];
    if (box) assertEntries(type, view, box, 0, bytes);
  }
  // sbgp: grouping_type, [grouping_type_parameter in version 1], entry_count, entries of 8 bytes.
  for (const sbgp of tables.sbgp) assertEntries('sbgp', view, sbgp, boxVersion(view, sbgp) === 1 ? 8 : 4, 8);
  if (tables.stsz) assertStsz(view, tables.stsz, fileSize);
  if (tables.stz2) assertStz2(view, tables.stz2);
}

function boxVersion(view: DataView, box: BoxRange): number {
  const at = box.start + (view.getUint32(box.start) === 1 ? 16 : 8);
  return at < view.byteLength ? view.getUint8(at) : 0;
}

function refuse(type: string, claimed: number, what: string): never {
  throw new ProbeError('impossible', `'${type}' claims ${claimed} entries, but ${what}`);
}

/** An entry count at `countOffset` in the payload, then entries of `entryBytes` each. */
function assertEntries(type: string, view: DataView, box: BoxRange, countOffset: number, entryBytes: number): void {
  const payload = fullBoxPayload(view, box);
  if (!payload || payload.start + countOffset + 4 > payload.end) return; // no count at all: read as empty
  const claimed = view.getUint32(payload.start + countOffset);
  const room = Math.floor((payload.end - payload.start - countOffset - 4) / entryBytes);
  if (claimed > room) refuse(type, claimed, `its ${box.size} bytes hold at most ${room}`);
}

/** stsz: sample_size, sample_count, then (sample_size 0) one u32 per sample. */
function assertStsz(view: DataView, box: BoxRange, fileSize: number): void {
  const payload = fullBoxPayload(view, box);
  if (!payload || payload.start + 8 > payload.end) return;
  const constant = view.getUint32(payload.start);
  const claimed = view.getUint32(payload.start + 4);
  if (constant === 0) {
    const room = Math.floor((payload.end - payload.start - 8) / 4);
    if (claimed > room) refuse('stsz', claimed, `its ${box.size} bytes hold at most ${room} sample sizes`);
  } else if (claimed * constant > fileSize) {
    refuse('stsz', claimed, `${claimed} samples of ${constant} bytes do not fit in a file of ${fileSize} bytes`);
  }
}

/** stz2: reserved(3) + field_size(1), sample_count, then field_size bits per sample. */
function assertStz2(view: DataView, box: BoxRange): void {
  const payload = fullBoxPayload(view, box);
  if (!payload || payload.start + 8 > payload.end) return;
  const bits = view.getUint8(payload.start + 3);
  const claimed = view.getUint32(payload.start + 4);
  const room = bits > 0 ? Math.floor(((payload.end - payload.start - 8) * 8) / bits) : 0;
  if (claimed > room) refuse('stz2', claimed, `its ${box.size} bytes hold at most ${room} sample sizes`);
}
