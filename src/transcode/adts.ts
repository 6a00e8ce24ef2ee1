/** Splits an ADTS stream (AAC with 7/9-byte headers) into its frames, headers included. */
export function splitAdtsFrames(stream: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let offset = 0;
  while (offset + 7 <= stream.length) {
    if (stream[offset] !== 0xff || (stream[offset + 1]! & 0xf6) !== 0xf0) throw new Error(`ADTS sync lost at byte ${offset}`);
    const length = ((stream[offset + 3]! & 0x03) << 11) | (stream[offset + 4]! << 3) | (stream[offset + 5]! >> 5);
    if (length < 7 || offset + length > stream.length) throw new Error(`truncated ADTS frame at byte ${offset}`);
    frames.push(stream.subarray(offset, offset + length));
    offset += length;
  }
  return frames;
}
