import type { DrmSystemConfig } from './config.js';
import type { ContentKeys } from './keys.js';

/**
 * PSSH boxes (ISO/IEC 23001-7 §8.1): the W3C common system's (version 1,
 * listing the key ids; what ClearKey reads) and one per configured system,
 * its data passed through as the user's license provider gave it. The same
 * boxes go into every init segment (the packager's --pssh) and into the
 * manifests (cenc:pssh, HLS KEYFORMAT URIs), so they always agree.
 */

export const COMMON_SYSTEM_ID = '1077efecc0b24d02ace33c1e52e2fb4b';
export const CLEARKEY_SYSTEM_ID = 'e2719d58a985b3c9781ab030af78d30e';

export function psshBox(systemIdHex: string, data: Uint8Array, kids: readonly string[] = []): Buffer {
  const version = kids.length > 0 ? 1 : 0;
  const head = Buffer.alloc(8 + 4 + 16);
  const kidPart = version === 1 ? Buffer.concat([u32(kids.length), ...kids.map((k) => Buffer.from(k, 'hex'))]) : Buffer.alloc(0);
  const size = head.length + kidPart.length + 4 + data.length;
  head.writeUInt32BE(size, 0);
  head.write('pssh', 4, 'latin1');
  head.writeUInt32BE(version << 24, 8);
  Buffer.from(systemIdHex.replace(/-/g, ''), 'hex').copy(head, 12);
  return Buffer.concat([head, kidPart, u32(data.length), data]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Base64 or hex, as configured. */
export function decodeData(text: string | undefined): Uint8Array {
  if (!text) return new Uint8Array(0);
  return /^(?:[0-9a-fA-F]{2})+$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
}

export interface SystemPssh {
  system: DrmSystemConfig | undefined;
  systemId: string;
  box: Buffer;
}

/** Every PSSH of a content, the common system's first. */
export function contentPssh(keys: ContentKeys, systems: readonly DrmSystemConfig[]): SystemPssh[] {
  const common = psshBox(COMMON_SYSTEM_ID, new Uint8Array(0), [keys.video.kid, keys.audio.kid]);
  return [
    { system: undefined, systemId: COMMON_SYSTEM_ID, box: common },
    ...systems.map((system) => {
      const systemId = system.system_id.replace(/-/g, '').toLowerCase();
      return { system, systemId, box: psshBox(systemId, decodeData(system.pssh_data)) };
    }),
  ];
}
