import { Hono, type Context } from 'hono';
import { NotFoundError } from '../../errors.js';
import type { Content } from '../../library/media-library.js';
import { subtitleMediaPlaylist, subtitleWholeName, SUBTITLE_MPEGTS } from '../../manifest/subtitles.js';
import { webVttSegment, webVttWhole } from '../../package/webvtt.js';
import { TIMELINE_OFFSET_SECONDS } from '../../plan/plan.js';
import type { SubtitleService } from '../../subtitles/service.js';
import { etagOf } from '../body-cache.js';
import type { AppDeps, AppEnv } from '../deps.js';
import { childQuery, CONTENT_MANIFEST_TTL, HLS_TYPE, type ManifestResponder } from '../manifests.js';
import { sendBytes } from '../serve-bytes.js';

/**
 * /api/v1/content/{hash}/subtitles/{track}/…: a track's HLS playlist, its
 * WebVTT segments (cut from the whole track in pure code), and the whole
 * track as one file for DASH. A track id names its source and version, so
 * these are immutable like media segments.
 */

const IMMUTABLE = 'public, max-age=31536000, immutable';
const VTT_TYPE = 'text/vtt; charset=utf-8';
const SEGMENT_FILE = /^segment_(\d{1,9})\.vtt$/;

export function subtitleRoutes(deps: AppDeps, subtitles: SubtitleService, manifest: ManifestResponder): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const withTrack = async (c: Context) => {
    const content: Content = await deps.library.get(c.req.param('hash') ?? '');
    const track = await subtitles.track(content, c.req.param('track') ?? '');
    return { content, track };
  };

  app.get('/api/v1/content/:hash/subtitles/:track/playlist.m3u8', async (c) => {
    const { content, track } = await withTrack(c);
    const query = await childQuery(c, deps.signer, content.metadata.hash);
    return manifest(c, content, `subtitles/${track.id}`, () => subtitleMediaPlaylist(content.plan, query), HLS_TYPE, CONTENT_MANIFEST_TTL);
  });

  app.get('/api/v1/content/:hash/subtitles/:track/:file', async (c) => {
    const { content, track } = await withTrack(c);
    const { plan } = content;
    const file = c.req.param('file');
    let text: string;
    if (file === subtitleWholeName) {
      // Presentation time 0 is the first picture (DASH presentationTimeOffset); cues are on the source timeline.
      const shiftMs = Math.round(TIMELINE_OFFSET_SECONDS * 1000 - (plan.presentationTimeOffset * 1000) / plan.timescale);
      text = webVttWhole(await subtitles.cuesOf(content, track), shiftMs);
    } else {
      const number = Number(SEGMENT_FILE.exec(file)?.[1]);
      const segment = plan.videoSegments[number - 1];
      if (!segment) throw new NotFoundError(`no subtitle segment "${file}"`);
      const toMs = (pts: number) => (pts * 1000) / plan.sourceTimescale;
      const last = number === plan.videoSegments.length;
      text = webVttSegment(await subtitles.cuesOf(content, track), toMs(segment.startPts), toMs(segment.endPts), SUBTITLE_MPEGTS, last);
    }
    const body = Buffer.from(text);
    return sendBytes(c, { body, etag: etagOf(body), contentType: VTT_TYPE, cacheControl: IMMUTABLE });
  });
  return app;
}
