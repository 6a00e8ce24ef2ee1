import { Hono, type Context } from 'hono';
import { NotFoundError } from '../../errors.js';
import type { Content } from '../../library/content.js';
import {
  dashImageAdaptationSet,
  hlsImagePlaylist,
  hlsImageStreamInf,
  IMAGE_PLAYLIST_FILE,
  POSTER_FILE,
  thumbnailsVtt,
  thumbnailTrackPath,
  VTT_FILE,
} from '../../manifest/thumbnails.js';
import type { ThumbnailOrigin } from '../../thumbnail-origin.js';
import { etagOf } from '../body-cache.js';
import { clientOf } from '../client.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { childQuery, CONTENT_MANIFEST_TTL, HLS_TYPE } from '../manifests.js';
import { sendBytes } from '../serve-bytes.js';

/**
 * The thumbnail track and the poster, under /api/v1/content/{hash}/ (signed
 * like the rest of the content):
 *   poster.jpg                              the content's poster
 *   thumbs/{track}/thumbnails.vtt           WebVTT index (#xywh= into the sheets)
 *   thumbs/{track}/playlist.m3u8            HLS image playlist (EXT-X-TILES)
 *   thumbs/{track}/tile_{N}.jpg             sheet N
 * The track id names every setting its bytes depend on, so its sheets are
 * immutable; the poster's URL names none, so it is cached for minutes.
 */

const IMMUTABLE = 'public, max-age=31536000, immutable';
const VTT_TYPE = 'text/vtt; charset=utf-8';
const SHEET_FILE = /^tile_([1-9][0-9]{0,8})\.jpg$/;

export function thumbnailRoutes(deps: AppDeps, thumbnails: ThumbnailOrigin): Hono<AppEnv> {
  const { library, signer } = deps;
  const app = new Hono<AppEnv>();
  const withContent = async (c: Context): Promise<Content> => library.get(c.req.param('hash') ?? '');
  /** A text that is a pure function of the track: shared when URLs are not signed, per request when they are. */
  const sendText = (c: Context, body: string, contentType: string) =>
    sendBytes(c, { body: Buffer.from(body), etag: etagOf(body), contentType, cacheControl: signer ? 'private, no-store' : CONTENT_MANIFEST_TTL });

  app.get(`/api/v1/content/:hash/${POSTER_FILE}`, async (c) => {
    const body = await thumbnails.poster(await withContent(c), { client: clientOf(c) });
    return sendBytes(c, { body, etag: etagOf(body), contentType: 'image/jpeg', cacheControl: CONTENT_MANIFEST_TTL });
  });

  app.get(`/api/v1/content/:hash/thumbs/:track/${VTT_FILE}`, async (c) => {
    const content = await withContent(c);
    const thumbs = thumbnails.track(content, c.req.param('track'));
    return sendText(c, thumbnailsVtt(thumbs, await childQuery(c, signer, content.metadata.hash)), VTT_TYPE);
  });

  app.get(`/api/v1/content/:hash/thumbs/:track/${IMAGE_PLAYLIST_FILE}`, async (c) => {
    const content = await withContent(c);
    const thumbs = thumbnails.track(content, c.req.param('track'));
    return sendText(c, hlsImagePlaylist(thumbs, await childQuery(c, signer, content.metadata.hash)), HLS_TYPE);
  });

  app.get('/api/v1/content/:hash/thumbs/:track/:file', async (c) => {
    const content = await withContent(c);
    const match = SHEET_FILE.exec(c.req.param('file'));
    if (!match) throw new NotFoundError(`no thumbnail file "${c.req.param('file')}"`);
    const body = await thumbnails.sheet(content, c.req.param('track'), Number(match[1]), { client: clientOf(c) });
    return sendBytes(c, { body, etag: etagOf(body), contentType: 'image/jpeg', cacheControl: IMMUTABLE });
  });
  return app;
}

/** The thumbnail track's entries in a content's manifests (none when thumbnails are off). */
export function thumbnailManifestEntries(deps: AppDeps, content: Content, uriPrefix: string, query: string): { hls: string[]; dash?: (id: number) => string } {
  const thumbnails = deps.thumbnails;
  if (!thumbnails?.enabled) return { hls: [] };
  const thumbs = thumbnails.planFor(content);
  return { hls: [hlsImageStreamInf(thumbs, uriPrefix, query)], dash: (id) => dashImageAdaptationSet(thumbs, id, query) };
}

/** What /info says of the thumbnails: the URLs of the index, the image playlist and the poster. */
export function thumbnailInfo(deps: AppDeps, content: Content) {
  const thumbnails = deps.thumbnails;
  if (!thumbnails?.enabled) return {};
  const thumbs = thumbnails.planFor(content);
  const base = `/api/v1/content/${content.metadata.hash}/`;
  return {
    thumbnails: {
      vtt: `${base}${thumbnailTrackPath(thumbs)}${VTT_FILE}`,
      playlist: `${base}${thumbnailTrackPath(thumbs)}${IMAGE_PLAYLIST_FILE}`,
      intervalSeconds: thumbs.intervalSeconds,
      width: thumbs.width,
      height: thumbs.height,
      layout: `${thumbs.columns}x${thumbs.rows}`,
      count: thumbs.thumbnails.length,
    },
    poster: `${base}${POSTER_FILE}`,
  };
}
