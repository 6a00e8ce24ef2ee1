import { Hono, type Context } from 'hono';
import { NotFoundError } from '../../errors.js';
import type { Content } from '../../library/media-library.js';
import { dashManifest } from '../../manifest/dash.js';
import { servedPlan } from '../../coordinate/rendition-health.js';
import { audioMediaPlaylist, multivariantPlaylist, videoMediaPlaylist } from '../../manifest/hls.js';
import { PEER_HEADER } from '../../coordinate/peer.js';
import { findRendition, segmentCountOf } from '../../plan/renditions.js';
import { segmentFileName, segmentNumberFromFileName } from '../../plan/plan.js';
import type { MediaKind } from '../../store/content-store.js';
import { contentUrls, etagOf } from '../body-cache.js';
import { clientOf } from '../client.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { PREFETCH_HEADER } from '../headers.js';
import { childQuery, contentFigures, manifestProtection, CONTENT_MANIFEST_TTL, DASH_TYPE, HLS_TYPE, type ManifestResponder } from '../manifests.js';
import { sendBytes } from '../serve-bytes.js';
import { offeredSubtitles, subtitleInfo } from '../subtitle-list.js';
import { WarmSegments } from '../warm-segments.js';
import { thumbnailInfo, thumbnailManifestEntries } from './thumbnails.js';

/**
 * Everything under /api/v1/content/{hash}/: addressed by content, so
 * segments are immutable and CDN-cacheable for a year.
 */

const IMMUTABLE = 'public, max-age=31536000, immutable';
/** A degraded segment (coordinate/degraded-segments.ts): caches ask again soon and then get the normal encode. */
const DEGRADED = 'public, max-age=10';
export function contentRoutes(deps: AppDeps, manifest: ManifestResponder, warm: WarmSegments): Hono<AppEnv> {
  const { library, origin, signer } = deps;
  const app = new Hono<AppEnv>();
  const withContent = async (c: Context): Promise<Content> => library.get(c.req.param('hash') ?? '');

  app.get('/api/v1/content/:hash', async (c) => {
    const content = await withContent(c);
    return c.json({ ...content.metadata, urls: contentUrls(content.metadata.hash) });
  });

  app.get('/api/v1/content/:hash/info', async (c) => {
    const content = await withContent(c);
    const { metadata, plan } = content;
    return c.json({
      ...metadata,
      urls: contentUrls(metadata.hash),
      segments: plan.videoSegments.length,
      segmentDurations: plan.videoSegments.map((s) => s.duration / plan.timescale),
      renditions: plan.renditions.map(({ id, name, width, height, bitrateKbps, codecs, peakBandwidth }) => ({ id, name, width, height, bitrateKbps, codecs, peakBandwidth })),
      ...(plan.toneMap ? { hdr: { format: plan.hdrFormat, toneMappedFrom: plan.toneMap.from, peakNits: plan.toneMap.peakNits } } : {}),
      audio: plan.audio.map(({ id, language, name, isDefault, codecs, bitrateKbps, segments }) => ({ id, language, name, isDefault, codecs, bitrateKbps, segments: segments.length })),
      ...thumbnailInfo(deps, content),
      ...(await subtitleInfo(deps, content)),
    });
  });

  app.get('/api/v1/content/:hash/master.m3u8', async (c) => {
    const content = await withContent(c);
    const query = await childQuery(c, signer, content.metadata.hash);
    const { figures, version } = contentFigures(content, deps.segmentSize, deps.segmentIndexVersion);
    const served = servedPlan(content.plan, deps.droppedRenditions?.(content.metadata.hash));
    const thumbs = thumbnailManifestEntries(deps, content, '', query);
    const subs = await offeredSubtitles(deps, content);
    return manifest(c, content, 'master', () => multivariantPlaylist(served.plan, '', query, figures, { subtitles: subs.tracks, images: thumbs.hls }), HLS_TYPE, CONTENT_MANIFEST_TTL, version + served.version + subs.fingerprint);
  });
  app.get('/api/v1/content/:hash/manifest.mpd', async (c) => {
    const content = await withContent(c);
    const query = await childQuery(c, signer, content.metadata.hash);
    const { figures, version } = contentFigures(content, deps.segmentSize, deps.segmentIndexVersion);
    const served = servedPlan(content.plan, deps.droppedRenditions?.(content.metadata.hash));
    const thumbs = thumbnailManifestEntries(deps, content, '', query);
    const subs = await offeredSubtitles(deps, content);
    const protection = await manifestProtection(c, deps.protector, content, query);
    const extras = { subtitles: subs.tracks, images: thumbs.dash, protection };
    return manifest(c, content, 'mpd', () => dashManifest(served.plan, '', query, figures, extras), DASH_TYPE, CONTENT_MANIFEST_TTL, version + served.version + subs.fingerprint);
  });

  const mediaKind = (c: Context): MediaKind => {
    const kind = c.req.param('kind');
    if (kind !== 'video' && kind !== 'audio') throw new NotFoundError(`no media kind "${kind}"`);
    return kind;
  };

  app.get('/api/v1/content/:hash/:kind/:rendition/playlist.m3u8', async (c) => {
    const content = await withContent(c);
    const { plan, metadata } = content;
    const found = findRendition(plan, mediaKind(c), c.req.param('rendition'));
    const query = await childQuery(c, signer, metadata.hash);
    const protection = await manifestProtection(c, deps.protector, content, query);
    // Every video rendition has the same playlist (one cut list); each audio rendition its own.
    return found.kind === 'video'
      ? manifest(c, content, 'video', () => videoMediaPlaylist(plan, query, protection), HLS_TYPE, CONTENT_MANIFEST_TTL)
      : manifest(c, content, `audio/${found.rendition.id}`, () => audioMediaPlaylist(plan, found.rendition, query, protection), HLS_TYPE, CONTENT_MANIFEST_TTL);
  });

  app.get('/api/v1/content/:hash/:kind/:rendition/:file', segmentHandler(deps, warm, withContent, mediaKind));
  return app;
}

/** A media or init segment: from memory, the store, a peer or a new encode. */
function segmentHandler(deps: AppDeps, warm: WarmSegments, withContent: (c: Context) => Promise<Content>, mediaKind: (c: Context) => MediaKind) {
  const { origin, signer } = deps;
  return async (c: Context<AppEnv>) => {
    const started = performance.now();
    const content = await withContent(c);
    const kind = mediaKind(c);
    const renditionId = c.req.param('rendition') ?? '';
    const file = c.req.param('file') ?? '';
    const number: number | 'init' | undefined = file === 'init.mp4' ? 'init' : segmentNumberFromFileName(content.plan.segmentTemplate, file);
    if (number === undefined) throw new NotFoundError(`no segment "${file}"`);
    const request = { content, kind, renditionId, number };
    const key = WarmSegments.key(content.metadata.hash, kind, renditionId, file);
    if (c.req.header(PEER_HEADER)) {
      // Another instance asking for what we have: the store only, no encode, no prefetch.
      const body = warm.hot.get(key)?.body ?? (await origin.getStored(request));
      return sendBytes(c, { body, etag: etagOf(body), contentType: 'application/octet-stream', cacheControl: 'no-store' });
    }
    const segmentCount = segmentCountOf(content.plan, findRendition(content.plan, kind, renditionId));
    const client = clientOf(c);
    // The edge warming its cache: queued behind players, and not a player's position to prefetch from.
    const edgePrefetch = c.req.header(PREFETCH_HEADER) === '1';
    const position = number === 'init' ? 0 : number;
    let cached = warm.hot.get(key);
    if (cached) {
      // The books of a player's hit are kept after the response (warm-segments.ts); an edge prefetch only counts.
      if (edgePrefetch) deps.metrics.hit('memory');
      else warm.noteHit({ client, content, kind, renditionId, number: position, segmentCount, seconds: (performance.now() - started) / 1000 });
    } else {
      // Judged (and the player's position kept) after every hit before it: a seek is a jump from where the player was.
      warm.flush();
      const start = !edgePrefetch && warm.starts.isStart({ client, hash: content.metadata.hash, kind, number: position });
      // Prefetch is set off once this request holds its place in the encode queue.
      const prefetch = () => {
        if (!edgePrefetch) deps.prefetcher.onRequest({ client, content, kind, renditionId, number: position, segmentCount });
      };
      const requestId = c.get('requestId');
      const reason = edgePrefetch ? 'prefetch' : start ? 'start' : 'request';
      // An edge prefetch has no player behind it to go away.
      const gone = edgePrefetch ? undefined : c.req.raw.signal;
      const body = await origin.get(request, { onScheduled: prefetch, client, requestId, reason, ...(gone ? { gone } : {}) });
      const next = position + 1;
      // Origin-assisted prefetch for CDNs: the next segment of this rendition. Not with signed URLs: this response is
      // cached for a year and shared, and must not carry one viewer's signature (and its expiry) to the next.
      const link = next <= segmentCount && !signer ? `<${segmentFileName(content.plan.segmentTemplate, next)}>; rel=preload; as=fetch; crossorigin` : undefined;
      cached = { body, etag: etagOf(body), link, number: position, segmentCount };
      // A degraded segment is replaced by its normal encode soon: not kept here, and not cached for long downstream.
      if (!origin.isDegraded(body)) warm.hot.set(key, cached);
    }
    if (cached.link) c.header('Link', cached.link);
    return sendBytes(c, { ...cached, contentType: mediaType(kind), cacheControl: segmentCacheControl(origin, cached.body) });
  };
}

/** Cache-Control of a segment response: a year, immutable; a degraded one only briefly. */
export function segmentCacheControl(origin: { isDegraded(body: Uint8Array): boolean }, body: Uint8Array): string {
  return origin.isDegraded(body) ? DEGRADED : IMMUTABLE;
}

export const mediaType = (kind: MediaKind) => (kind === 'video' ? 'video/mp4' : 'audio/mp4');
