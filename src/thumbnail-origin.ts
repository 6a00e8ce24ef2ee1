import { Counter } from 'prom-client';
import type { ThumbnailConfig } from './config/config.js';
import { PRIORITY, type EncodeQueue } from './coordinate/encode-queue.js';
import { SingleFlight } from './coordinate/single-flight.js';
import { EncodeError, NotFoundError } from './errors.js';
import type { Content } from './library/content.js';
import { POSTER_FILE, sheetFileName } from './manifest/thumbnails.js';
import type { Logger } from './observe/log.js';
import type { Plan } from './plan/plan.js';
import { thumbnailPlan, type ThumbnailPlan } from './plan/thumbnails.js';
import { PreemptedError, ProcessError } from './process/runner.js';
import type { ImageStore } from './store/image-store.js';
import { makePoster, makeThumbnailSheet, type MadeImage } from './transcode/thumbnails.js';
import { SpanError, type SpanLimits } from './transcode/transcode.js';

/**
 * Makes thumbnail sheets and posters on first request, once however many
 * requests arrive together (per instance: two instances may both make one;
 * the bytes are the same, and the store's rename keeps either whole), in an
 * encode worker at request priority (a player's start goes first), and keeps
 * them in the store (store/image-store.ts).
 */

export interface ThumbnailOriginParts {
  images: ImageStore;
  queue: EncodeQueue;
  config: ThumbnailConfig;
  limits: SpanLimits;
  logger: Logger;
}

export interface ImageRequestOptions {
  /** Who asks: encode workers are shared fairly between clients. */
  client?: string;
}

export class ThumbnailOrigin {
  private readonly flights = new SingleFlight<Buffer>();
  private readonly plans = new WeakMap<Plan, ThumbnailPlan>();
  /** Images made, by kind (for /metrics: the server registers it). */
  readonly made = new Counter({
    name: 'jitseg_images_made_total',
    help: 'Thumbnail sheets and posters made (keyframe decodes), by kind: sheet, poster',
    labelNames: ['kind'] as const,
    registers: [],
  });

  constructor(private readonly parts: ThumbnailOriginParts) {}

  get enabled(): boolean {
    return this.parts.config.enabled;
  }

  /** The content's thumbnail plan (computed once per plan). */
  planFor(content: Content): ThumbnailPlan {
    let thumbs = this.plans.get(content.plan);
    if (!thumbs) this.plans.set(content.plan, (thumbs = thumbnailPlan(content.probe.video, content.plan, this.parts.config)));
    return thumbs;
  }

  /** Sheet `number` (1-based) of the thumbnail track `trackId`. */
  sheet(content: Content, trackId: string, number: number, options: ImageRequestOptions = {}): Promise<Buffer> {
    const thumbs = this.track(content, trackId);
    if (!Number.isInteger(number) || number < 1 || number > thumbs.sheets) throw new NotFoundError(`sheet ${number} is out of range (1-${thumbs.sheets})`);
    return this.image(content, thumbs.id, sheetFileName(number), options, (source) => makeThumbnailSheet(source, content.plan, thumbs, number, this.parts.limits), 'sheet');
  }

  poster(content: Content, options: ImageRequestOptions = {}): Promise<Buffer> {
    const thumbs = this.planFor(content);
    return this.image(content, thumbs.poster.id, POSTER_FILE, options, (source) => makePoster(source, content.plan, thumbs, this.parts.limits), 'poster');
  }

  /** The plan of the track a URL names: the current one only (another id is another config's, or nothing). */
  track(content: Content, trackId: string): ThumbnailPlan {
    if (!this.enabled) throw new NotFoundError('thumbnails are turned off');
    const thumbs = this.planFor(content);
    if (thumbs.id !== trackId) throw new NotFoundError(`no thumbnail track "${trackId}" for this content`);
    return thumbs;
  }

  private async image(content: Content, trackId: string, fileName: string, options: ImageRequestOptions, make: (source: string) => Promise<MadeImage>, what: 'sheet' | 'poster'): Promise<Buffer> {
    if (!this.enabled) throw new NotFoundError('thumbnails are turned off');
    const hash = content.metadata.hash;
    const filePath = this.parts.images.pathOf(hash, trackId, fileName);
    const stored = await this.parts.images.read(filePath);
    if (stored) return stored;
    const key = `${hash}/images/${trackId}/${fileName}`;
    return this.flights.run(key, () =>
      this.parts.queue.run(
        key,
        async () => {
          const raced = await this.parts.images.read(filePath);
          if (raced) return raced;
          const made = await this.makeOrReport(content, make, key);
          await this.parts.images.keep(filePath, made.jpeg);
          this.made.inc({ kind: what });
          this.parts.logger.info({ content: hash, file: `${trackId}/${fileName}`, bytes: made.jpeg.length }, 'image made');
          return made.jpeg;
        },
        { priority: PRIORITY.request, ...(options.client ? { client: options.client } : {}) },
      ),
    );
  }

  /** Runs the tools on the content's own file; a tool's failure is a 502 with its log. */
  private async makeOrReport(content: Content, make: (source: string) => Promise<MadeImage>, key: string): Promise<MadeImage> {
    try {
      return await content.withSource(make);
    } catch (err) {
      if (err instanceof PreemptedError) throw err;
      if (!(err instanceof ProcessError || err instanceof SpanError)) throw err;
      this.parts.logger.error({ key, err: err.message }, 'image failed');
      throw new EncodeError(`could not make ${key}: ${err.message}`, err.log);
    }
  }
}
