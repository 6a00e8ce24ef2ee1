import { Counter, Gauge, Registry } from 'prom-client';

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

export class Metrics {
  readonly registry = new Registry();
  readonly transcodes = new Counter({
    name: 'jitseg_transcodes_total',
    help: 'FFmpeg encode runs, by media kind and why they ran',
    labelNames: ['kind', 'reason'] as const,
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
  readonly peerFetches = new Counter({
    name: 'jitseg_peer_fetches_total',
    help: 'Segments fetched from another origin instance instead of encoded',
    registers: [this.registry],
  });

  constructor(sources: MetricSources) {
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
    gauge('jitseg_redis_connected', '1 when encodes are coordinated across instances through Redis', () => (sources.redisConnected() ? 1 : 0));
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
