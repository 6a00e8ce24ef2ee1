/**
 * Codec names (as ffmpeg names them), audio formats and languages, from
 * sample entries and media headers.
 */
import type { DescriptorLike, EsdsLike, SampleEntryLike } from './boxes.js';

const VIDEO_CODECS: Record<string, string> = {
  avc1: 'h264', avc2: 'h264', avc3: 'h264', avc4: 'h264', dvav: 'h264', dva1: 'h264',
  hvc1: 'hevc', hev1: 'hevc', dvh1: 'hevc', dvhe: 'hevc',
  av01: 'av1', dav1: 'av1',
  vp08: 'vp8', vp09: 'vp9',
  vvc1: 'vvc', vvi1: 'vvc',
  apch: 'prores', apcn: 'prores', apcs: 'prores', apco: 'prores', ap4h: 'prores', ap4x: 'prores',
  mjpa: 'mjpeg', mjpb: 'mjpeg', jpeg: 'mjpeg', mjp2: 'jpeg2000',
  s263: 'h263', h263: 'h263',
  'dvc ': 'dvvideo', dvcp: 'dvvideo', dv5n: 'dvvideo', dv5p: 'dvvideo', dvh5: 'dvvideo', dvh6: 'dvvideo',
  mp2v: 'mpeg2video', xdvd: 'mpeg2video', xd55: 'mpeg2video', xd5c: 'mpeg2video', xd5e: 'mpeg2video',
  'raw ': 'rawvideo', yuv2: 'rawvideo', '2vuy': 'rawvideo', v210: 'v210',
};

/** MPEG-4 objectTypeIndication -> ffmpeg codec name (ff_mp4_obj_type). */
const OTI_CODECS: Record<number, string> = {
  0x20: 'mpeg4', 0x21: 'h264', 0x23: 'hevc', 0x60: 'mpeg2video', 0x61: 'mpeg2video', 0x62: 'mpeg2video',
  0x63: 'mpeg2video', 0x64: 'mpeg2video', 0x65: 'mpeg2video', 0x6a: 'mpeg1video', 0x6c: 'mjpeg',
  0x40: 'aac', 0x66: 'aac', 0x67: 'aac', 0x68: 'aac', 0x69: 'mp3', 0x6b: 'mp3',
  0xa5: 'ac3', 0xa6: 'eac3', 0xa9: 'dts', 0xad: 'opus', 0xdd: 'vorbis', 0xe1: 'qcelp',
};

function originalFormat(entry: SampleEntryLike): string {
  if (entry.type === 'encv' || entry.type === 'enca') {
    const fmt = entry.sinf?.frma?.data_format ?? entry.sinfs?.[0]?.frma?.data_format;
    if (fmt) return fmt;
  }
  return entry.type;
}

function esdsOf(entry: SampleEntryLike): EsdsLike | undefined {
  return entry.esds ?? entry.wave?.esds ?? (entry.wave?.boxes?.find((b) => b.type === 'esds') as EsdsLike | undefined);
}

/** DecoderConfigDescriptor (tag 4) inside the ES_Descriptor. */
function decoderConfig(entry: SampleEntryLike): DescriptorLike | undefined {
  const esd = esdsOf(entry)?.esd;
  return esd?.descs?.find((d) => d.tag === 4) ?? esd?.descs?.[0];
}

export function videoCodecName(entry: SampleEntryLike): string {
  const fmt = originalFormat(entry);
  if (fmt === 'mp4v') {
    const oti = decoderConfig(entry)?.oti;
    return (oti !== undefined && OTI_CODECS[oti]) || 'mpeg4';
  }
  return VIDEO_CODECS[fmt] ?? fmt.trim();
}

const AUDIO_CODECS: Record<string, string> = {
  'ac-3': 'ac3', 'ec-3': 'eac3', 'ac-4': 'ac4', Opus: 'opus', fLaC: 'flac', alac: 'alac',
  '.mp3': 'mp3', 'mp3 ': 'mp3', '.mp2': 'mp2', samr: 'amr_nb', sawb: 'amr_wb',
  'dtsc': 'dts', 'dtsh': 'dts', 'dtsl': 'dts', 'dtse': 'dts', 'mha1': 'mpegh_3d_audio',
  sowt: 'pcm_s16le', twos: 'pcm_s16be', 'in24': 'pcm_s24be', 'in32': 'pcm_s32be',
  fl32: 'pcm_f32be', fl64: 'pcm_f64be', ulaw: 'pcm_mulaw', alaw: 'pcm_alaw', lpcm: 'pcm_s16le', ipcm: 'pcm_s16be',
};

export function audioCodecName(entry: SampleEntryLike, view: DataView): string {
  const fmt = originalFormat(entry);
  if (fmt === 'mp4a') {
    const oti = decoderConfig(entry)?.oti;
    return (oti !== undefined && OTI_CODECS[oti]) || 'aac';
  }
  if (fmt === 'lpcm') return lpcmCodec(readSoundDescription(entry, view));
  return AUDIO_CODECS[fmt] ?? fmt.trim();
}

const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

interface SoundDescription {
  version: number;
  channels: number;
  sampleSize: number;
  sampleRate: number;
  /** QuickTime v2 only. */
  lpcmFlags?: number;
  bitsPerChannel?: number;
}

/**
 * The (QuickTime) sound description of an audio sample entry, read from the
 * box bytes: mp4box only parses the entry types it knows (not 'sowt', 'twos',
 * 'lpcm', …), while every audio entry shares this layout.
 */
function readSoundDescription(entry: SampleEntryLike, view: DataView): SoundDescription | undefined {
  const p = entry.start;
  if (p === undefined || p + 36 > view.byteLength) return undefined;
  const base = p + (view.getUint32(p) === 1 ? 16 : 8) + 8; // box header, reserved(6), data_reference_index(2)
  if (base + 20 > view.byteLength) return undefined;
  const version = view.getUint16(base);
  const desc: SoundDescription = {
    version,
    channels: view.getUint16(base + 8),
    sampleSize: view.getUint16(base + 10),
    sampleRate: view.getUint32(base + 16) >>> 16,
  };
  if (version === 2 && base + 56 <= view.byteLength) {
    // v2: sizeOfStructOnly u32, audioSampleRate f64, numAudioChannels u32,
    // always7F000000 u32, constBitsPerChannel u32, formatSpecificFlags u32, …
    desc.sampleRate = Math.round(view.getFloat64(base + 24));
    desc.channels = view.getUint32(base + 32);
    desc.bitsPerChannel = view.getUint32(base + 40);
    desc.lpcmFlags = view.getUint32(base + 44);
  }
  return desc;
}

/** QuickTime 'lpcm' (v2) -> ffmpeg pcm codec name from the format flags. */
function lpcmCodec(d: SoundDescription | undefined): string {
  const bits = d?.bitsPerChannel || d?.sampleSize || 16;
  const flags = d?.lpcmFlags ?? 0x4 | 0x2;
  const isFloat = (flags & 0x1) !== 0;
  const bigEndian = (flags & 0x2) !== 0;
  const signed = (flags & 0x4) !== 0;
  if (bits === 8) return signed ? 'pcm_s8' : 'pcm_u8';
  return `pcm_${isFloat ? 'f' : signed ? 's' : 'u'}${bits}${bigEndian ? 'be' : 'le'}`;
}

export function audioFormat(entry: SampleEntryLike | undefined, view: DataView): { channels: number; sampleRate: number } {
  if (!entry) return { channels: 0, sampleRate: 0 };
  const desc = readSoundDescription(entry, view);
  let channels = desc?.channels ?? entry.channel_count ?? 0;
  let sampleRate = desc?.sampleRate ?? entry.samplerate ?? 0;
  // For AAC ffmpeg trusts the AudioSpecificConfig over the sample entry.
  if (originalFormat(entry) === 'mp4a') {
    const asc = decoderConfig(entry)?.descs?.find((d) => d.tag === 5)?.data;
    const parsed = asc ? parseAudioSpecificConfig(asc) : undefined;
    if (parsed?.channels) channels = parsed.channels;
    if (parsed?.sampleRate) sampleRate = parsed.sampleRate;
  }
  return { channels, sampleRate };
}

function parseAudioSpecificConfig(data: Uint8Array): { sampleRate?: number; channels?: number } | undefined {
  let bitPos = 0;
  const bits = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++, bitPos++) {
      const byte = data[bitPos >> 3];
      if (byte === undefined) throw new RangeError('short ASC');
      v = (v << 1) | ((byte >> (7 - (bitPos & 7))) & 1);
    }
    return v >>> 0;
  };
  try {
    let aot = bits(5);
    if (aot === 31) aot = 32 + bits(6);
    const freqIndex = bits(4);
    let sampleRate = freqIndex === 15 ? bits(24) : AAC_SAMPLE_RATES[freqIndex];
    const chanConfig = bits(4);
    if (aot === 5 || aot === 29) {
      // Explicit SBR/PS signalling: the output rate is the extension rate.
      const extIndex = bits(4);
      sampleRate = extIndex === 15 ? bits(24) : AAC_SAMPLE_RATES[extIndex];
    }
    const channels = chanConfig >= 1 && chanConfig <= 6 ? chanConfig : chanConfig === 7 ? 8 : undefined;
    return { sampleRate, channels };
  } catch {
    return undefined;
  }
}

/** Macintosh language codes (mdhd values < 0x400), from ffmpeg's mov_mdhd_language_map. */
const MAC_LANGUAGES = [
  'eng', 'fra', 'ger', 'ita', 'dut', 'sve', 'spa', 'dan', 'por', 'nor', 'heb', 'jpn', 'ara', 'fin',
  'gre', 'ice', 'mlt', 'tur', 'hr ', 'chi', 'urd', 'hin', 'tha', 'kor', 'lit', 'pol', 'hun', 'est', 'lav',
];

/** mdhd language (ISO 639-2/T packed as 3x5 bits, or a Macintosh code) -> ISO 639 code, "und" if unknown. */
export function mdhdLanguage(code: number | undefined): string {
  if (code === undefined || code === 0x7fff) return 'und';
  if (code < 0x400) return MAC_LANGUAGES[code]?.trim() || 'und';
  const s = String.fromCharCode(((code >> 10) & 31) + 0x60, ((code >> 5) & 31) + 0x60, (code & 31) + 0x60);
  return /^[a-z]{3}$/.test(s) ? s : 'und';
}
