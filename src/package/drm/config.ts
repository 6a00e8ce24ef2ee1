import { z } from 'zod';

/**
 * `streaming.drm`: encryption of every segment at packaging (off by default).
 *
 *   scheme: cenc (AES-CTR; older Widevine/PlayReady clients) or cbcs (AES-CBC
 *     pattern 1:9; Apple, and most current players)
 *   key_source: seed (key id and key derived per content by HKDF from
 *     --drm-key-seed: every instance derives the same with no shared state) or
 *     service (fetched from key_service.url: see package/drm/key-service.ts)
 *   systems: DRM systems besides ClearKey whose PSSH the packager writes and
 *     the manifests declare (Widevine, PlayReady, FairPlay): their licenses
 *     come from the user's own license server, named by license_url.
 *   key_url: the public base URL players reach the key endpoint at (default:
 *     the origin of the manifest request).
 */

const hexOrBase64 = z.string().min(4).max(16_384);

const systemSchema = z
  .object({
    /** widevine | playready | fairplay, or any other system by its id. */
    name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
    /** The system id, as a UUID (edef8ba9-79d6-4ace-a3c8-27dcd51d21ed for Widevine). */
    system_id: z.string().regex(/^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/, 'a UUID'),
    /** The PSSH data (the box payload after the system id), base64: what your license provider gives you. */
    pssh_data: hexOrBase64.optional(),
    /** The license server players ask (DASH dashif:Laurl; HLS EXT-X-KEY URI). */
    license_url: z.string().url().optional(),
    /** HLS KEYFORMAT (default: urn:uuid:{system_id}; com.apple.streamingkeydelivery for FairPlay). */
    hls_keyformat: z.string().min(1).max(200).optional(),
  })
  .strict();

export const drmSchema = z
  .object({
    enabled: z.boolean().default(false),
    scheme: z.enum(['cenc', 'cbcs']).default('cbcs'),
    key_source: z.enum(['seed', 'service']).default('seed'),
    key_service: z
      .object({
        url: z.string().url(),
        /** Sent as Authorization: Bearer … to the key service. */
        token: z.string().min(1).optional(),
        timeout_ms: z.number().int().min(100).max(60_000).default(5000),
      })
      .strict()
      .optional(),
    key_url: z.string().url().optional(),
    /** Key requests one client may make per minute (the key endpoint answers 429 beyond). */
    key_requests_per_minute: z.number().int().min(1).max(100_000).default(60),
    systems: z.array(systemSchema).max(8).default([]),
  })
  .strict()
  .refine((d) => d.key_source !== 'service' || d.key_service !== undefined, { message: 'key_source "service" needs key_service.url', path: ['key_service'] });

export type DrmConfig = z.infer<typeof drmSchema>;
export type DrmSystemConfig = z.infer<typeof systemSchema>;
export const drmDefaults: DrmConfig = { enabled: false, scheme: 'cbcs', key_source: 'seed', key_requests_per_minute: 60, systems: [] };
