import { Hono } from 'hono';
import { InvalidRequestError, NotFoundError } from '../../errors.js';
import { dashManifest } from '../../manifest/dash.js';
import { servedPlan } from '../../coordinate/rendition-health.js';
import { multivariantPlaylist } from '../../manifest/hls.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { offeredSubtitles } from '../subtitle-list.js';
import { thumbnailManifestEntries } from './thumbnails.js';
import { childQuery, contentFigures, manifestProtection, DASH_TYPE, HLS_TYPE, PATH_MANIFEST_TTL, type ManifestResponder } from '../manifests.js';

/**
 * /vod/{relative path}/master.m3u8 and …/manifest.mpd: no registration step.
 * The path is the routed one (c.req.path), the same the signing guard checked.
 */
export function vodRoutes(deps: AppDeps, manifest: ManifestResponder): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/vod/*', async (c) => {
    const rawParts = c.req.path.slice('/vod/'.length).split('/');
    const file = rawParts.pop();
    if (file !== 'master.m3u8' && file !== 'manifest.mpd') throw new NotFoundError('use /vod/{path}/master.m3u8 or /vod/{path}/manifest.mpd');
    let relative: string;
    try {
      relative = rawParts.map((p) => decodeURIComponent(p)).join('/');
    } catch (err) {
      if (err instanceof URIError) throw new InvalidRequestError('path is not valid percent-encoding');
      throw err;
    }
    const content = await deps.library.register(relative);
    const { metadata } = content;
    const { plan, version: without } = servedPlan(content.plan, deps.droppedRenditions?.(metadata.hash));
    const prefix = `/api/v1/content/${metadata.hash}/`;
    const query = await childQuery(c, deps.signer, metadata.hash);
    const { figures, version } = contentFigures(content, deps.segmentSize, deps.segmentIndexVersion);
    const thumbs = thumbnailManifestEntries(deps, content, prefix, query);
    const { tracks, fingerprint } = await offeredSubtitles(deps, content);
    const protection = file === 'manifest.mpd' ? await manifestProtection(c, deps.protector, content, query) : undefined;
    return file === 'master.m3u8'
      ? manifest(c, content, `vod-master:${prefix}`, () => multivariantPlaylist(plan, prefix, query, figures, { subtitles: tracks, images: thumbs.hls }), HLS_TYPE, PATH_MANIFEST_TTL, version + without + fingerprint)
      : manifest(c, content, `vod-mpd:${prefix}`, () => dashManifest(plan, prefix, query, figures, { subtitles: tracks, images: thumbs.dash, protection }), DASH_TYPE, PATH_MANIFEST_TTL, version + without + fingerprint);
  });
  return app;
}
