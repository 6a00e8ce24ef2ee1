import type { KeyLabel } from '../package/drm/keys.js';
import { kidUuid } from '../package/drm/keys.js';
import { CLEARKEY_SYSTEM_ID, COMMON_SYSTEM_ID, type SystemPssh } from '../package/drm/pssh.js';

/**
 * What manifests declare for protected content: the scheme, each track's
 * key id, the PSSH boxes (the same the packager writes into every init) and
 * the ClearKey license URL (jitseg's key endpoint, signed for the content).
 */
export interface ManifestProtection {
  scheme: 'cenc' | 'cbcs';
  kids: Record<KeyLabel, string>;
  pssh: SystemPssh[];
  /** POST /api/v1/keys?content=…, with the request's signature: players' ClearKey license server. */
  clearKeyUrl: string;
}

/** GET of the same URL with `kid={hex}`: the raw key, for HLS KEYFORMAT="identity". */
export function identityKeyUrl(protection: ManifestProtection, label: KeyLabel): string {
  return protection.clearKeyUrl.replace('?', `?kid=${protection.kids[label]}&`);
}

const quote = (value: string) => `"${value.replace(/"/g, "'")}"`;
const escapeXml = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const uuidOf = (hex: string) => kidUuid(hex);
const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/**
 * EXT-X-KEY tags of a media playlist (RFC 8216bis §4.4.4.4): METHOD is
 * SAMPLE-AES for cbcs, SAMPLE-AES-CTR for cenc; one tag per system, by
 * KEYFORMAT. ClearKey as hls.js names it (org.w3.clearkey, KEYID, the
 * license URL); Widevine and other systems by urn:uuid with the PSSH box as a
 * data URI; PlayReady with its PlayReady Object; FairPlay with its skd:// URI
 * (the system's license_url).
 */
export function hlsKeyTags(protection: ManifestProtection, label: KeyLabel): string[] {
  const method = protection.scheme === 'cbcs' ? 'SAMPLE-AES' : 'SAMPLE-AES-CTR';
  const kid = protection.kids[label];
  const tag = (uri: string, keyformat: string, withKid = true) =>
    `#EXT-X-KEY:METHOD=${method},URI=${quote(uri)},${withKid ? `KEYID=0x${kid},` : ''}KEYFORMAT=${quote(keyformat)},KEYFORMATVERSIONS="1"`;
  const tags = [tag(protection.clearKeyUrl, 'org.w3.clearkey')];
  // Shaka Player takes ClearKey in HLS only as KEYFORMAT="identity" (the raw key at the URI, the key id from the
  // init). Only for cenc: hls.js ignores identity with SAMPLE-AES-CTR, but would take an identity SAMPLE-AES key
  // (cbcs) for MPEG-TS sample decryption, before the ClearKey tag, and fail.
  if (protection.scheme === 'cenc') tags.push(`#EXT-X-KEY:METHOD=${method},URI=${quote(identityKeyUrl(protection, label))},KEYFORMAT="identity"`);
  for (const { system, box } of protection.pssh) {
    if (!system) continue;
    const name = system.name.toLowerCase();
    if (name === 'fairplay') {
      tags.push(tag(system.license_url ?? `skd://${kid}`, system.hls_keyformat ?? 'com.apple.streamingkeydelivery', false));
    } else if (name === 'playready') {
      // The PlayReady Object is the PSSH data, after the 32-byte v0 box header.
      tags.push(tag(`data:text/plain;charset=UTF-16;base64,${base64(box.subarray(32))}`, system.hls_keyformat ?? 'com.microsoft.playready'));
    } else {
      tags.push(tag(`data:text/plain;base64,${base64(box)}`, system.hls_keyformat ?? `urn:uuid:${uuidOf(system.system_id.replace(/-/g, '').toLowerCase())}`));
    }
  }
  return tags;
}

/**
 * ContentProtection descriptors of an AdaptationSet (DASH-IF IOP §7):
 * mp4protection with the scheme and cenc:default_KID, then one per system
 * with its cenc:pssh; ClearKey's with dashif:Laurl (the key endpoint), and
 * the W3C common system's with the PSSH listing the key ids.
 * Needs xmlns:cenc and xmlns:dashif on the MPD (DASH_PROTECTION_NAMESPACES).
 */
export function dashContentProtection(protection: ManifestProtection, label: KeyLabel): string[] {
  const kid = uuidOf(protection.kids[label]);
  const common = protection.pssh.find((p) => !p.system);
  const out = [
    `<ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="${protection.scheme}" cenc:default_KID="${kid}"/>`,
    // The ClearKey descriptor names the license server; the W3C common system's carries the PSSH that lists the key
    // ids (ClearKey's initData). A common-system PSSH inside the ClearKey descriptor is refused by dash.js (another system id).
    `<ContentProtection schemeIdUri="urn:uuid:${uuidOf(CLEARKEY_SYSTEM_ID)}" value="ClearKey1.0"><dashif:Laurl>${escapeXml(protection.clearKeyUrl)}</dashif:Laurl></ContentProtection>`,
    ...(common ? [`<ContentProtection schemeIdUri="urn:uuid:${uuidOf(COMMON_SYSTEM_ID)}" value="cenc"><cenc:pssh>${base64(common.box)}</cenc:pssh></ContentProtection>`] : []),
  ];
  for (const { system, systemId, box } of protection.pssh) {
    if (!system) continue;
    const laurl = system.license_url ? `<dashif:Laurl>${escapeXml(system.license_url)}</dashif:Laurl>` : '';
    out.push(`<ContentProtection schemeIdUri="urn:uuid:${uuidOf(systemId)}" value="${escapeXml(system.name)}"><cenc:pssh>${base64(box)}</cenc:pssh>${laurl}</ContentProtection>`);
  }
  return out;
}

export const DASH_PROTECTION_NAMESPACES = ' xmlns:cenc="urn:mpeg:cenc:2013" xmlns:dashif="https://dashif.org/CPS"';
