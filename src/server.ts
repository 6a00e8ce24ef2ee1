import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { ServerConfig } from './config/config.js';
import { LocalCoordinator, RedisCoordinator, type Coordinator } from './coordinate/cluster.js';
import { CircuitBreaker } from './coordinate/circuit-breaker.js';
import { DegradedSegments } from './coordinate/degraded-segments.js';
import { degradePolicy } from './coordinate/degrade.js';
import { RenditionHealth } from './coordinate/rendition-health.js';
import { EncodeQueue } from './coordinate/encode-queue.js';
import { createHttp } from './http/app.js';
import { ImageStore } from './store/image-store.js';
import { ThumbnailOrigin } from './thumbnail-origin.js';
import { jpegProblem } from './transcode/thumbnails.js';
import { listen } from './http/listen.js';
import { UrlSigner } from './http/signing.js';
import { EventBus } from './observe/events.js';
import { listMediaFiles } from './library/demo.js';
import { createLogger, type Logger } from './observe/log.js';
import { SessionRegistry } from './observe/sessions.js';
import { segmentFileName } from './plan/plan.js';
import { randomUUID } from 'node:crypto';
import { detectEncoders } from './transcode/detect-encoders.js';
import { chooseEncoder, EncoderSelector } from './transcode/encoders.js';
import { MediaLibrary } from './library/media-library.js';
import { Metrics } from './metrics.js';
import { Origin } from './origin.js';
import { Prefetcher } from './prefetch/prefetcher.js';
import { LocalRegistry, RedisRegistry } from './coordinate/registry.js';
import { probeCounter, warmProbeWorkers } from './probe/index.js';
import { warmManifestPath } from './library/warm-up.js';
import { ContentIdIndex } from './store/content-id.js';
import { ContentStore } from './store/content-store.js';
import { SegmentCache } from './store/segment-cache.js';
import { SegmentStore } from './store/segment-store.js';
import { SubtitleService } from './subtitles/service.js';
import { protectorFor } from './package/drm/protector.js';
import type { Plan } from './plan/plan.js';
import { protectPlan } from './package/drm/protect-plan.js';

/** Wires the stages together and listens. Used by the CLI, the tests and the bench alike. */
export interface RunningServer {
  url: string;
  port: number;
  logger: Logger;
  events: EventBus;
  origin: Origin;
  /** The contents (tests start heads on one). */
  library: MediaLibrary;
  metrics: Metrics;
  cache: SegmentCache;
  segments: SegmentStore;
  queue: EncodeQueue;
  coordinator: Coordinator;
  close(): Promise<void>;
}

export interface ServerHooks {
  /** Where the logs go (default: JSON lines on stdout, pretty in a terminal). */
  logger?: Logger;
  /** Told when a content's first segment failed for a reason in the content (see OriginParts.onUnplayable). */
  onUnplayable?: (hash: string, reason: string) => void;
}

export async function startServer(config: ServerConfig, hooks: ServerHooks = {}): Promise<RunningServer> {
  const logger = hooks.logger ?? createLogger();
  const log = (message: string) => logger.info(message);
  const { streaming } = config;
  await mkdir(config.mediaDir, { recursive: true });
  await mkdir(config.cacheDir, { recursive: true });
  const store = new ContentStore(config.cacheDir);
  await store.init();
  const ids = new ContentIdIndex(config.cacheDir);
  await ids.load();

  let metrics: Metrics | undefined;
  const cache = new SegmentCache(config.cacheDir, {
    maxBytes: streaming.storage.max_bytes,
    retentionMs: streaming.storage.retention_days * 86_400_000,
    onEvict: () => metrics?.cacheEvictions.inc(),
  });
  await cache.load();
  const segments = new SegmentStore(store, cache, { logger, onWriteError: () => metrics?.storeWriteErrors.inc() });

  const queue = new EncodeQueue(streaming.encoder.workers || os.availableParallelism(), {
    prefetchWorkers: streaming.encoder.prefetch_workers,
    prefetchNice: streaming.encoder.prefetch_nice,
    maxWaiting: streaming.encoder.max_queue,
    maxWaitMs: streaming.encoder.max_wait_seconds * 1000,
    onShed: () => metrics?.prefetchShed.inc(),
    onRefused: () => metrics?.requestsRefused.inc(),
  });
  let advertiseUrl = config.advertiseUrl ?? '';
  const coordinator: Coordinator = config.redisUrl
    ? new RedisCoordinator({
        redisUrl: config.redisUrl,
        advertiseUrl: () => advertiseUrl,
        leaseMs: config.leaseMs ?? 5000,
        maxWaitMs: streaming.encoder.max_wait_seconds * 1000,
        onWanted: (key) => {
          queue.raiseRunning(key);
          // A segment a head here is making: the head's encode is raised.
          origin.heads.raiseRunning(key);
        },
        log,
      })
    : new LocalCoordinator();
  const events = new EventBus(randomUUID().slice(0, 8));
  metrics = new Metrics({
    cacheBytes: () => cache.bytes,
    cacheSegments: () => cache.count,
    queueDepth: () => queue.depth,
    encodesRunning: () => queue.running,
    redisConnected: () => coordinator.connected,
  }, events);
  metrics.registry.registerMetric(probeCounter);
  const probeWorkerLoaded = warmProbeWorkers();
  // While the probe worker loads: the first manifest request then runs JIT-compiled code.
  warmManifestPath(streaming);
  const registry = config.redisUrl ? new RedisRegistry(config.redisUrl, new LocalRegistry(store), logger) : new LocalRegistry(store);
  const protector = protectorFor(streaming.drm, config.drmKeySeed);
  const planHook = protector ? (plan: Plan) => protectPlan(plan, protector.scheme, protector.source.tag) : undefined;
  const library = new MediaLibrary(config.mediaDir, store, ids, streaming, { registry, logger, ...(planHook ? { planHook } : {}) });
  const detection = await detectEncoders();
  const choice = chooseEncoder(streaming.encoder.hwaccel, detection);
  const encoders = new EncoderSelector(detection, choice.encoder, choice.note);
  if (detection.listed.length > 0 || streaming.encoder.hwaccel !== 'auto') log(`video encoder: ${choice.encoder} (${choice.note})`);
  const signer = config.signKey ? new UrlSigner(config.signKey) : undefined;
  if (coordinator instanceof RedisCoordinator) coordinator.relayEvents(events);
  const sessions = new SessionRegistry(events, (hash, kind, rendition, segment) =>
    // The file name only matters for the index lookup; the default template is what the store uses unless configured.
    cache.has(store.mediaPath(hash, kind, rendition, segmentFileName(streaming.packager.segment_template, segment))),
  );
  const renditions = new RenditionHealth(events, logger);
  const degraded = new DegradedSegments(degradePolicy(streaming.encoder.degrade), queue, metrics, events);
  const origin = new Origin({
    // Peers are asked with a short-lived signature when URLs must be signed.
    ...(signer ? { peerQuery: (hash: string) => signer.query(UrlSigner.contentScope(hash), Math.floor(Date.now() / 1000) + 60) } : {}),
    segments,
    onUnplayable: (hash, reason) => {
      library.markUnplayable(hash, reason);
      hooks.onUnplayable?.(hash, reason);
    },
    queue,
    coordinator,
    metrics,
    breaker: new CircuitBreaker(),
    events,
    sessions,
    logger,
    encoders,
    limits: { stallTimeoutMs: streaming.encoder.stall_timeout_seconds * 1000 },
    runSegments: streaming.encoder.run_segments,
    videoRuns: streaming.encoder.video_runs,
    renditions,
    degraded,
    ...(protector ? { protector } : {}),
  });
  const prefetcher = new Prefetcher(
    {
      enabled: streaming.prefetch.enabled,
      startup: streaming.prefetch.startup_segments,
      ahead: streaming.prefetch.ahead_segments,
      afterSeek: streaming.prefetch.seek_segments,
      runSegments: streaming.encoder.run_segments,
    },
    ({ content, kind, renditionId, number }, signal, client, nextUp) => origin.get({ content, kind, renditionId, number }, { reason: 'prefetch', signal, client, nextUp }),
    ({ content, kind, renditionId, number }) => origin.isStored({ content, kind, renditionId, number }),
    (scheduled) => {
      metrics.prefetchScheduled.inc();
      void scheduled.then((dropped) => dropped && metrics.prefetchDropped.inc());
    },
    ({ content, kind, renditionId, number }, count, signal, client) => origin.heads.start({ content, kind, renditionId, number }, count, { signal, client }),
  );
  const thumbnails = new ThumbnailOrigin({
    images: new ImageStore(segments, jpegProblem, logger),
    queue,
    config: streaming.thumbnails,
    limits: { stallTimeoutMs: streaming.encoder.stall_timeout_seconds * 1000 },
    logger,
  });
  metrics.registry.registerMetric(thumbnails.made);
  const { app, front } = createHttp({
    droppedRenditions: (hash) => renditions.dropped(hash),
    library,
    thumbnails,
    origin,
    metrics,
    prefetcher,
    events,
    sessions,
    logger,
    ...(signer ? { signer } : {}),
    ...(protector ? { protector } : {}),
    ...(config.adminToken ? { adminToken: config.adminToken } : {}),
    system: () => ({
      workers: queue.workers,
      queue: { waiting: queue.depth, waitingByReason: queue.waitingByReason, running: queue.running, shed: queue.shed, refused: queue.refused, preempted: queue.preempted },
      cache: { bytes: cache.bytes, segments: cache.count, maxBytes: streaming.storage.max_bytes },
      redis: config.redisUrl ? { connected: coordinator.connected } : null,
      signedUrls: signer !== undefined,
      encoders: encoders.report(),
      degraded: { policy: degraded.policy, held: degraded.heldCount },
    }),
    subtitles: new SubtitleService(segments, logger),
    listMedia: () => listMediaFiles(config.mediaDir),
    cachedSegments: (hash) => cache.countFor(hash),
    segmentSize: (hash, kind, renditionId, fileName) => cache.sizeOf(hash, kind, renditionId, fileName),
    segmentIndexVersion: (hash) => cache.versionOf(hash),
    health: () => {
      const encodeRate = metrics.encodeRate();
      const failed = sessions.list().filter((session) => session.state === 'Failed').length;
      const alerts = [
        ...(encodeRate !== undefined && encodeRate < 1 ? [`encoding is slower than real time (×${encodeRate.toFixed(2)} over the last minute)`] : []),
        ...(queue.depth > queue.workers * 4 ? [`${queue.depth} encodes are waiting for ${queue.workers} workers`] : []),
        ...(cache.bytes > 0.9 * streaming.storage.max_bytes ? ['the segment cache is over 90 % of its budget'] : []),
        ...(config.redisUrl && !coordinator.connected ? ['Redis is unreachable: encodes are coordinated in this process only'] : []),
        ...(encoders.current !== encoders.chosen ? [`${encoders.chosen} failed repeatedly: encoding with libx264`] : []),
        ...(failed > 0 ? [`${failed} session(s) failed`] : []),
      ];
      const memory = process.memoryUsage();
      return {
        status: alerts.length ? 'degraded' : 'ok',
        alerts,
        encodeRate: encodeRate ?? null,
        cacheHitRatio: metrics.hitRatio() ?? null,
        queue: { waiting: queue.depth, running: queue.running, workers: queue.workers },
        cache: { bytes: cache.bytes, maxBytes: streaming.storage.max_bytes, segments: cache.count },
        sessions: { total: sessions.list().length, failed },
        process: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6, uptimeSeconds: process.uptime() },
      };
    },
  });
  // The first probe must not wait for a worker to load its modules.
  await probeWorkerLoaded;
  const server = await listen(app.fetch, config.port, config.host, front);
  const { port } = server.address() as AddressInfo;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  advertiseUrl ||= url;
  if (coordinator instanceof RedisCoordinator && !(await coordinator.ready(3000))) {
    log(`redis at ${config.redisUrl} is not reachable yet: coordinating encodes in this process until it is`);
  }
  return {
    url,
    port,
    logger,
    events,
    origin,
    library,
    metrics,
    cache,
    segments,
    queue,
    coordinator,
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets (and ones a client reset mid-request) would otherwise hold close() open for seconds.
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
      queue.dropWaiting();
      await queue.idle();
      // probe.json files are written a moment after the responses that made them: finish those writes before exiting.
      await library.close();
      await cache.close();
      await coordinator.close();
    },
  };
}
