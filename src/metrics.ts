import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventBus } from './observe/events.js';

/**
 * Prometheus series (prom-client), one registry per server so several
 * servers in one process (tests, bench) count separately. Gauges read their
 * value when scraped from the function given at start-up.
 */
export interface MetricSources {
  cacheBytes: () => number;
  cacheSegments: () => number;
  queueDepth: () => number;
  encodesRunning: () => number;
  redisConnected: () => boolean;
}

/** Encodes remembered for the rate: a minute's worth, and never more than this many. */
const MAX_RECENT_ENCODES = 10_000;

export class Metrics {
  readonly registry = new Registry();
  readonly transcodes = new Counter({
    name: 'jitseg_transcodes_total',
    help: 'Segment encode runs, by media kind and why they ran',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });
  readonly initEncodes = new Counter({
    name: 'jitseg_init_encodes_total',
    help: 'Init segment encode runs (a few frames each, not a segment), by media kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly cacheHits = new Counter({
    name: 'jitseg_cache_hits_total',
    help: 'Segment requests answered from memory or the disk store without waiting for an encode',
    labelNames: ['tier'] as const,
    registers: [this.registry],
  });
  readonly cacheMisses = new Counter({
    name: 'jitseg_cache_misses_total',
    help: 'Segment requests that had to wait for an encode (or a peer)',
    registers: [this.registry],
  });
  readonly cacheEvictions = new Counter({
    name: 'jitseg_cache_evictions_total',
    help: 'Segments deleted from the disk store (byte budget or retention)',
    registers: [this.registry],
  });
  readonly prefetchScheduled = new Counter({
    name: 'jitseg_prefetch_scheduled_total',
    help: 'Segments queued for prefetch',
    registers: [this.registry],
  });
  readonly prefetchDropped = new Counter({
    name: 'jitseg_prefetch_dropped_total',
    help: 'Queued prefetch dropped before it ran (the player moved away)',
    registers: [this.registry],
  });
  readonly prefetchShed = new Counter({
    name: 'jitseg_prefetch_shed_total',
    help: 'Prefetch shed because the encode queue was full',
    registers: [this.registry],
  });
  readonly requestsRefused = new Counter({
    name: 'jitseg_requests_refused_total',
    help: 'Player requests answered 503 because no encoder could take them in time',
    registers: [this.registry],
  });
  readonly storeWriteErrors = new Counter({
    name: 'jitseg_store_write_errors_total',
    help: 'Writes to the cache disk that failed (full disk, I/O error); the file was served uncached',
    registers: [this.registry],
  });
  readonly segmentLatency = new Histogram({
    name: 'jitseg_segment_latency_seconds',
    help: 'Time to answer a segment request: warm (memory or disk) or cold (encoded or fetched from a peer)',
    labelNames: ['path'] as const,
    buckets: [0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16],
    registers: [this.registry],
  });
  readonly degradedSegments = new Counter({
    name: 'jitseg_degraded_segments_total',
    help: 'Segments made at the fast speed under load (long queue, or too slow for real time at the configured preset)',
    labelNames: ['kind', 'why'] as const,
    registers: [this.registry],
  });
  readonly peerFetches = new Counter({
    name: 'jitseg_peer_fetches_total',
    help: 'Segments fetched from another origin instance instead of encoded',
    registers: [this.registry],
  });

  /** Encodes of the last minute (pruned as new ones come, so it stays bounded when nobody reads the rate). */
  private recentEncodes: Array<{ at: number; mediaSeconds: number; encodeSeconds: number }> = [];

  constructor(sources: MetricSources, events?: EventBus) {
    collectDefaultMetrics({ register: this.registry, prefix: 'jitseg_' });
    events?.subscribe((event) => {
      if (event.type !== 'TranscodeCompleted') return;
      this.pruneEncodes();
      this.recentEncodes.push({ at: Date.now(), mediaSeconds: event.mediaSeconds, encodeSeconds: event.encodeMs / 1000 });
      if (this.recentEncodes.length > MAX_RECENT_ENCODES) this.recentEncodes.shift();
    });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    gauge('jitseg_cache_bytes', 'Bytes of segments in the disk store', sources.cacheBytes);
    gauge('jitseg_cache_segments', 'Segments in the disk store', sources.cacheSegments);
    gauge('jitseg_queue_depth', 'Encodes waiting for a worker', sources.queueDepth);
    gauge('jitseg_encodes_running', 'Encodes running now', sources.encodesRunning);
    gauge('jitseg_encode_rate', 'Media seconds encoded per second of encoding over the last minute (× real time; 0 when idle)', () => this.encodeRate() ?? 0);
    gauge('jitseg_cache_hit_ratio', 'Share of segment requests answered without waiting for an encode', () => this.hitRatio() ?? 0);
    gauge('jitseg_redis_connected', '1 when encodes are coordinated across instances through Redis', () => (sources.redisConnected() ? 1 : 0));
  }

  /** Encodes held for the rate (bounded). */
  get recentEncodeCount(): number {
    return this.recentEncodes.length;
  }

  /** × real time over the last minute; undefined when nothing was encoded. */
  encodeRate(): number | undefined {
    this.pruneEncodes();
    const encodeSeconds = this.recentEncodes.reduce((sum, e) => sum + e.encodeSeconds, 0);
    return encodeSeconds > 0 ? this.recentEncodes.reduce((sum, e) => sum + e.mediaSeconds, 0) / encodeSeconds : undefined;
  }

  private pruneEncodes(): void {
    const since = Date.now() - 60_000;
    if (this.recentEncodes[0] && this.recentEncodes[0].at < since) this.recentEncodes = this.recentEncodes.filter((e) => e.at >= since);
  }

  private hits = 0;
  private misses = 0;

  hit(tier: 'memory' | 'disk', count = 1): void {
    this.hits += count;
    this.cacheHits.inc({ tier }, count);
  }

  miss(): void {
    this.misses++;
    this.cacheMisses.inc();
  }

  /** Since start; undefined before the first segment request. */
  hitRatio(): number | undefined {
    const total = this.hits + this.misses;
    return total > 0 ? this.hits / total : undefined;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
