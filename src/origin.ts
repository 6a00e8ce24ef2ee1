import type { Content } from './library/media-library.js';
import { SingleFlight } from './coordinate/single-flight.js';
import { Waiters } from './coordinate/waiters.js';
import { EncodeError, NotFoundError, ServiceUnavailableError, UnplayableError } from './errors.js';
import { makeInitSegment, makeSpanSegment } from './package/span-segment.js';
import { spanEncryption, type Protector } from './package/drm/protector.js';
import { sameSampleDescription } from './package/validate.js';
import { segmentFileName } from './plan/plan.js';
import { findRendition, type Rendition } from './plan/renditions.js';
import { PreemptedError, ProcessError } from './process/runner.js';
import type { MediaKind } from './store/content-store.js';
import type { SegmentStore } from './store/segment-store.js';
import type { Coordinator, Obtain } from './coordinate/cluster.js';
import { NEXT_UP_PRIORITY, PRIORITY, type EncodeQueue, type TaskReason } from './coordinate/encode-queue.js';
import { PeerClient } from './coordinate/peer.js';
import type { Metrics } from './metrics.js';
import { SpanError, type SpanLimits } from './transcode/transcode.js';
import type { CircuitBreaker } from './coordinate/circuit-breaker.js';
import type { EventBus } from './observe/events.js';
import type { Logger } from './observe/log.js';
import type { SessionRegistry } from './observe/sessions.js';
import { isHardware, type EncoderSelector, type VideoEncoderName } from './transcode/encoders.js';
import { RenditionEncoders } from './transcode/rendition-encoder.js';
import { initFileOf, locate, sampleIndexStorageOf, segmentFileOf } from './store/segment-files.js';
import { reportFailure } from './observe/failure-report.js';
import { isOutOfSpace, saysSomethingAboutTheMedia } from './transcode/failure-kinds.js';
import { REMAKE_PRIORITY, type DegradedSegments } from './coordinate/degraded-segments.js';
import type { DegradeDecision } from './coordinate/degrade.js';
import type { RenditionHealth } from './coordinate/rendition-health.js';
import type { SpeedTier } from './transcode/x264-tiers.js';
import type { Heads } from './coordinate/heads.js';
import { originHeads } from './coordinate/origin-heads.js';

/**
 * Makes segments on first request: transcode → package → validate → store,
 * once per segment however many requests arrive together. Nothing reaches
 * the store, or a client, before it has been checked against the plan.
 */

export interface SegmentRequest {
  content: Content;
  kind: MediaKind;
  renditionId: string;
  /** 1-based segment number, or "init". */
  number: number | 'init';
}

interface Produced {
  init: Uint8Array;
  /** Empty for an init's encode. */
  segment: Buffer;
  /** The video encoder that made it. */
  encoder?: VideoEncoderName;
}

/** Attempts per segment (the design's error threshold). */
const MAX_ATTEMPTS = 3;

export interface OriginCounters {
  /** Spans encoded and packaged (each attempt that produced a valid segment). */
  spansEncoded: number;
  /** Init segments encoded (a few frames each, see transcode/init-span.ts). */
  initsEncoded: number;
  /** Segments that failed after every attempt. */
  encodeFailures: number;
}

export interface OriginParts {
  /** Where made files are kept: read (validated), kept, made room for. */
  segments: SegmentStore;
  breaker: CircuitBreaker;
  limits: SpanLimits;
  /** The video encoder in use, and its fallback to libx264. */
  encoders: EncoderSelector;
  events: EventBus;
  sessions: SessionRegistry;
  logger: Logger;
  /** The query that authorizes a fetch from a peer when URLs are signed. */
  peerQuery?: (hash: string) => Promise<string>;
  queue: EncodeQueue;
  coordinator: Coordinator;
  metrics: Metrics;
  /** Encrypts protected content (plans with `protection`). */
  protector?: Protector;
  /**
   * A content's first segment of a rendition failed on every try for a
   * reason in the content itself (not a full disk, a hardware encoder or a
   * stall of ours): the library can stop offering it.
   */
  onUnplayable?: (hash: string, reason: string) => void;
  /** Degrades players' encodes under load (coordinate/degraded-segments.ts); without it every segment is normal. */
  degraded?: DegradedSegments;
  /** Video renditions whose segments keep failing, left out of the manifests (coordinate/rendition-health.ts). */
  renditions?: RenditionHealth;
  /** Most segments one encoder process makes in linear play (encoder.run_segments; 1 or unset: none). */
  runSegments?: number;
  /** Video in runs too (encoder.video_runs): other bytes than a span's for the same segment. */
  videoRuns?: boolean;
}

export interface GetOptions {
  /**
   * Why the file is wanted: a player waits for a request, and for a start before
   * it can show a frame (see http/start-tracker.ts); nobody waits for a prefetch.
   * Default request; an init segment is always a start unless prefetched.
   */
  reason?: TaskReason;
  /** Drops a prefetch that is still waiting for a worker. */
  signal?: AbortSignal;
  /**
   * Aborts when the player's connection closes: once every player waiting for an encode has gone, the encode is
   * demoted (see EncodeQueue.demote). A player asking without one counts as waiting until the file is made.
   */
  gone?: AbortSignal;
  /** A prefetch of the segment a player needs next (see NEXT_UP_PRIORITY). */
  nextUp?: boolean;
  /** Who asks: encode workers are shared fairly between clients. */
  client?: string;
  /** The HTTP request this comes from, for the encode's log lines. */
  requestId?: string;
  /**
   * Called once the file is found or its making is queued: work started
   * from here (prefetch) cannot take the worker this request is due.
   */
  onScheduled?: () => void;
  /** The normal encode of a segment served degraded: skips the degraded copy, runs after all prefetch. */
  remake?: boolean;
}

export class Origin {
  private readonly flights = new SingleFlight<Buffer>();
  /** Players on this instance waiting for each key being made: the last to go demotes its encode. */
  private readonly waiters: Waiters;
  readonly counters: OriginCounters = { spansEncoded: 0, initsEncoded: 0, encodeFailures: 0 };
  private readonly segments: SegmentStore;
  private readonly peers: PeerClient;
  private readonly renditionEncoders: RenditionEncoders;

  /** Encode runs in linear play (coordinate/heads.ts): `heads.start` makes a head. */
  readonly heads: Heads;

  constructor(private readonly parts: OriginParts) {
    this.segments = parts.segments;
    this.waiters = new Waiters((key) => parts.queue.demote(key));
    this.renditionEncoders = new RenditionEncoders(parts.segments, parts.encoders, parts.protector);
    this.peers = new PeerClient(parts.segments, { logger: parts.logger, ...(parts.peerQuery ? { query: parts.peerQuery } : {}) });
    this.heads = originHeads(parts, this.flights, {
      initFor: (content, found, reason) => this.initFor(content, found, reason),
      encoderOf: async (content, found) => (await this.renditionEncoders.of(content, found)).encoder,
      inQueue: (key, options, work) => this.inQueue(key, { ...options, reason: 'prefetch' }, work),
      span: (request, options) => this.obtain(request, locate(this.segments, request, parts.protector), { ...options, reason: 'prefetch' }),
    });
  }

  async get(request: SegmentRequest, options: GetOptions = {}): Promise<Buffer> {
    const { content, kind, renditionId, number } = request;
    const reason = startIfInit(number, options.reason ?? 'request');
    const player = reason !== 'prefetch';
    const started = performance.now();
    // A protected content's keys first: a stored init is then checked against its key id.
    if (content.plan.protection) await this.parts.protector?.keysFor(content.metadata.hash);
    const file = locate(this.segments, request, this.parts.protector);
    const { queue, metrics } = this.parts;
    this.parts.sessions.touch(content.metadata.hash, kind, renditionId, file.segmentCount);

    const stored = await this.segments.read(file.stored);
    if (stored) {
      if (player) {
        metrics.hit('disk');
        metrics.segmentLatency.observe({ path: 'warm' }, (performance.now() - started) / 1000);
      }
      options.onScheduled?.();
      return stored;
    }
    const held = options.remake ? undefined : this.parts.degraded?.get(file.key);
    if (held) {
      if (player) metrics.hit('memory');
      options.onScheduled?.();
      return held;
    }
    if (player) metrics.miss();
    this.parts.breaker.assertNotOpen(content.metadata.hash);
    if (player) queue.raise(file.key, PRIORITY[reason]);
    // A head making this segment runs at the player's priority from now on.
    if (player) this.heads.raise(file.key, PRIORITY[reason]);
    const made = this.flights.run(file.key, () => this.obtain(request, file, { ...options, reason }));
    if (player) this.waiters.follow(file.key, made, options.gone);
    options.onScheduled?.();
    if (player) void made.then(() => metrics.segmentLatency.observe({ path: 'cold' }, (performance.now() - started) / 1000), () => undefined);
    return made;
  }

  /** Makes the file (or finds it in the cluster): the inside of its single flight. */
  private obtain(request: SegmentRequest, file: ReturnType<typeof locate>, queued: GetOptions & { reason: TaskReason }): Promise<Buffer> {
    const { queue, coordinator } = this.parts;
    const how: Obtain = {
      // An init is a few frames' encode: a light task in the queue (see encode-queue.ts), a start like segment 1.
      inWorker: (work) => this.inQueue(file.key, queued, (startedAs) => work(() => this.make(request, startedAs, queued.requestId)), request.number === 'init'),
      readLocal: () => this.segments.read(file.stored),
      fetchFromPeer: (holder) => this.fetchFromPeer(holder, request),
      wanted: () => queue.isWanted(file.key),
    };
    return coordinator.obtain(file.key, how).finally(() => queue.release(file.key)).then((body) => this.remakeIfDegraded(request, body));
  }

  /** A degraded segment's normal encode is queued once its flight is over (so it is a flight of its own). */
  private remakeIfDegraded(request: SegmentRequest, body: Buffer): Buffer {
    if (this.parts.degraded?.isDegraded(body)) {
      setImmediate(() => {
        this.get(request, { reason: 'prefetch', remake: true }).catch((err: Error) => this.parts.logger.warn({ err: err.message }, 'the normal re-make of a degraded segment failed'));
      });
    }
    return body;
  }

  /** Whether a body is a degraded segment: served with a short cache lifetime. */
  isDegraded(body: Uint8Array): boolean {
    return this.parts.degraded?.isDegraded(body) ?? false;
  }

  /** Makes the file asked for, in the worker this request holds. */
  private make({ content, kind, renditionId, number }: SegmentRequest, reason: TaskReason, requestId?: string): Promise<Buffer> {
    const found = findRendition(content.plan, kind, renditionId);
    return number === 'init' ? this.initFor(content, found, reason, requestId) : this.makeSegment(content, found, number - 1, reason, requestId);
  }

  /** Runs `work` in an encode worker at the priority of `options.reason`. */
  private inQueue<T>(key: string, options: GetOptions & { reason: TaskReason }, work: (startedAs: TaskReason) => Promise<T>, light = false): Promise<T> {
    return this.parts.queue.run(key, work, {
      priority: options.remake ? REMAKE_PRIORITY : options.reason === 'prefetch' && options.nextUp ? NEXT_UP_PRIORITY : PRIORITY[options.reason],
      light,
      ...(options.client ? { client: options.client } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }

  /** A file only if this instance's store has it (peers ask this way). */
  async getStored(request: SegmentRequest): Promise<Buffer> {
    const stored = await this.segments.read(locate(this.segments, request, this.parts.protector).stored);
    if (!stored) throw new NotFoundError('not in this instance\'s store');
    return stored;
  }

  /** Whether the file is in the store (from the index: no disk access). */
  isStored(request: SegmentRequest): boolean {
    return this.segments.has(locate(this.segments, request, this.parts.protector).stored.path);
  }

  /**
   * The rendition's init segment, made in this worker when the store has none.
   * It is always made the same way (a few frames, transcode/init-span.ts),
   * whether an init or a segment was asked for first, so its bytes never
   * depend on the order of requests.
   */
  private async initFor(content: Content, found: Rendition, reason: TaskReason, requestId?: string): Promise<Buffer> {
    const hash = content.metadata.hash;
    const initFile = initFileOf(this.segments, content, found, this.parts.protector);
    const log = this.parts.logger.child({ requestId, content: hash, kind: found.kind, rendition: found.rendition.id, segment: 'init', reason });
    for (let tries = 0; tries < 2; tries++) {
      const stored = await this.segments.read(initFile);
      if (stored) return stored;
      const produced = await this.produceOrReport(content, found, 'init', reason, log);
      // Another writer started the rendition on another encoder a moment ago: its init is the rendition's.
      if (!(await this.renditionEncoders.fix(content, found, produced.encoder))) continue;
      const { created, init } = await this.segments.createInit(initFile, produced.init);
      if (created) {
        await this.parts.coordinator.announce(`${hash}/${found.kind}/${found.rendition.id}/init.mp4`);
        log.info({ bytes: init.length, encoder: produced.encoder ?? 'aac' }, 'init segment made');
      } else if (!sameSampleDescription(init, produced.init)) {
        throw new EncodeError('encoder output does not match the rendition init segment', '');
      }
      return init;
    }
    throw new EncodeError("the rendition's encoder changed while its init segment was made", '');
  }

  /**
   * Encode, validate and store one segment; its sample description must be its rendition's init segment's. A
   * player's encode under load is made fast (degraded) and held in memory instead of stored, until its normal
   * re-make is (coordinate/degraded-segments.ts).
   */
  private async makeSegment(content: Content, found: Rendition, index: number, reason: TaskReason, requestId?: string): Promise<Buffer> {
    const hash = content.metadata.hash;
    const { kind } = found;
    const renditionId = found.rendition.id;
    const log = this.parts.logger.child({ requestId, content: hash, kind, rendition: renditionId, segment: index + 1, reason });
    const file = segmentFileOf(this.segments, content, found, index + 1);
    const raced = await this.segments.read(file);
    if (raced) return raced;
    const speed = await this.speedFor(content, found, index, reason);
    let segment = await this.encodeSegment(content, found, index, reason, log, speed.tier, requestId);
    let degraded = speed.tier === 'fast';
    if (!segment) {
      // x264-tiers.ts makes both speeds' SPS/PPS the same; should an x264 differ, the segment is made normally.
      log.warn('the fast encode does not match the rendition init segment: made at the normal speed');
      degraded = false;
      segment = (await this.encodeSegment(content, found, index, reason, log, 'normal', requestId))!;
    }
    const ref = { content: hash, kind, rendition: renditionId, segment: index + 1 };
    const key = `${hash}/${kind}/${renditionId}/${segmentFileName(content.plan.segmentTemplate, index + 1)}`;
    // A re-make replacing a degraded copy: the segment was ready already.
    const replacing = this.parts.degraded?.get(key) !== undefined;
    if (degraded && speed.tier === 'fast') {
      this.parts.degraded!.keep(key, ref, segment, speed.why);
    } else {
      await this.segments.keep(file, segment);
      this.parts.degraded?.replaced(key);
    }
    if (!replacing) this.parts.events.emit({ type: 'SegmentReady', ...ref, bytes: segment.length, source: 'encoded' });
    log.info({ bytes: segment.length, speed: degraded ? 'fast' : 'normal' }, 'segment made');
    return segment;
  }

  /** The speed a segment is made at: degraded only for a player's H.264 video encode with libx264, under load. */
  private async speedFor(content: Content, found: Rendition, index: number, reason: TaskReason): Promise<DegradeDecision> {
    const { degraded } = this.parts;
    // The HDR-keeping HEVC rendition has one speed (libx265's).
    if (!degraded || found.kind !== 'video' || found.rendition.hevc || reason === 'prefetch') return { tier: 'normal' };
    const { encoder } = await this.renditionEncoders.of(content, found);
    const ref = { content: content.metadata.hash, kind: found.kind, rendition: found.rendition.id, segment: index + 1 };
    return degraded.decide(ref, reason, encoder, content.plan.videoSegments[index]!.duration / content.plan.timescale);
  }

  /**
   * One segment encoded at a speed, on the rendition's encoder, checked against the rendition's init (made after it
   * when there is none: a source that cannot be encoded fails as this segment, and the init uses its encoder).
   * Undefined when a fast encode's sample description is not the init's.
   */
  private async encodeSegment(content: Content, found: Rendition, index: number, reason: TaskReason, log: Logger, tier: SpeedTier, requestId?: string): Promise<Buffer | undefined> {
    let produced = await this.produceOrReport(content, found, index, reason, log, tier);
    if (!(await this.renditionEncoders.fix(content, found, produced.encoder))) {
      // Another writer started the rendition on another encoder a moment ago: this segment must come from that one.
      produced = await this.produceOrReport(content, found, index, reason, log, tier);
      if (!(await this.renditionEncoders.fix(content, found, produced.encoder))) throw new EncodeError("the rendition's encoder changed while this segment was made", '');
    }
    const init = await this.initFor(content, found, reason, requestId);
    // What proves an init made from a few frames right: every segment's decoder configuration is the init's, byte for byte.
    if (sameSampleDescription(init, produced.init)) return produced.segment;
    if (tier === 'fast') return undefined;
    throw new EncodeError('encoder output does not match the rendition init segment', '');
  }

  /** produce(), with the breaker told, and a failure reported (event, kept log, unplayable content). */
  private async produceOrReport(content: Content, found: Rendition, part: number | 'init', reason: TaskReason, log: Logger, tier: SpeedTier = 'normal'): Promise<Produced> {
    // An init is made from segment 1's first frames: its failures are reported as segment 1's (and can mark the content unplayable).
    const index = part === 'init' ? 0 : part;
    const hash = content.metadata.hash;
    const { breaker } = this.parts;
    breaker.admit(hash);
    try {
      const produced = await content.withSource((sourcePath) => this.produce({ ...content, absolutePath: sourcePath }, found, part, reason, tier));
      breaker.succeeded(hash);
      if (found.kind === 'video') this.parts.renditions?.succeeded(hash, found.rendition.id);
      return produced;
    } catch (err) {
      if (!(err instanceof EncodeError)) {
        breaker.abandoned(hash);
        throw err;
      }
      breaker.failed(hash);
      await reportFailure(this.parts, { content, found, index, err, log, attempts: MAX_ATTEMPTS });
      throw err;
    }
  }

  /** A file from another instance's store, checked like a local encode and kept in ours; undefined when it cannot give a good one. */
  private async fetchFromPeer(holder: string, request: SegmentRequest): Promise<Buffer | undefined> {
    const { content, kind, renditionId } = request;
    const { stored, key, fileName, found } = locate(this.segments, request, this.parts.protector);
    const hash = content.metadata.hash;
    const init = initFileOf(this.segments, content, found, this.parts.protector);
    const answer = await this.peers.fetch({ holder, file: stored, init, address: { hash, kind, renditionId, fileName } });
    if (!answer) return undefined;
    this.parts.metrics.peerFetches.inc();
    if (request.number !== 'init') {
      this.parts.events.emit({ type: 'SegmentReady', content: hash, kind, rendition: renditionId, segment: request.number, bytes: answer.bytes.length, source: 'peer' });
    }
    if (answer.adoptedInit && request.number !== 'init') await this.parts.coordinator.announce(`${hash}/${kind}/${renditionId}/init.mp4`);
    await this.parts.coordinator.announce(key);
    return answer.bytes;
  }

  /**
   * Up to MAX_ATTEMPTS tries at a segment. A hardware encoder that fails on a
   * rendition not started yet hands over to libx264 (a full set of tries); a
   * full disk makes room from the least recently used segments.
   */
  private async produce(content: Content, found: Rendition, part: number | 'init', reason: TaskReason, tier: SpeedTier): Promise<Produced> {
    let lastError: Error | undefined;
    const logs: string[] = [];
    let outOfSpace = 0;
    // Whether every try on the last encoder failed for a reason in the content.
    let contentFault = true;
    const { encoders } = this.parts;
    let { encoder, fixed } = found.kind === 'video' ? await this.renditionEncoders.of(content, found) : { encoder: undefined, fixed: true };
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let workDir: string | undefined;
      const trail = { log: '' };
      try {
        workDir = await this.segments.makeWorkDir();
        const how = { workDir, encoder, attempt, trail, tier };
        return await (part === 'init' ? this.encodeInitOnce(content, found, how) : this.encodeOnce(content, found, part, reason, how));
      } catch (err) {
        // Not a failure: the encode starts again at normal priority.
        if (err instanceof PreemptedError) throw err;
        lastError = err as Error;
        if (err instanceof ProcessError || err instanceof SpanError) trail.log += err.log;
        logs.push(`--- attempt ${attempt}${encoder ? ` (${encoder})` : ''}: ${lastError.message}\n${trail.log}`);
        if (encoder && isHardware(encoder)) {
          encoders.hardwareFailed(lastError.message);
          if (!fixed) {
            // A rendition not started yet: encode this segment with libx264 at once (a full set of tries),
            // and the rendition stays on libx264.
            encoder = 'libx264';
            fixed = true;
            attempt = 0;
            contentFault = true;
            continue;
          }
          contentFault = false;
        }
        if (!saysSomethingAboutTheMedia(err)) contentFault = false;
        // Tools do not always say so (an ffmpeg writing a short file exits 0): ask the file system too.
        if (isOutOfSpace(err) || (await this.segments.lowOnSpace())) {
          // The work files did not fit: make room from the least recently used segments and try again.
          outOfSpace++;
          contentFault = false;
          await this.segments.makeRoom();
        }
      } finally {
        if (workDir) await this.segments.removeWorkDir(workDir);
      }
    }
    if (outOfSpace === MAX_ATTEMPTS) {
      // Not the content's fault: no breaker, no 502; the disk may have room again soon.
      throw new ServiceUnavailableError('the cache disk is full', 10);
    }
    this.counters.encodeFailures++;
    const why = lastError?.message ?? 'unknown error';
    throw contentFault ? new UnplayableError(why, logs.join('\n')) : new EncodeError(why, logs.join('\n'));
  }

  /** One try at an init segment: encode a few frames as the rendition's segments are, package them, and check the init. */
  private async encodeInitOnce(content: Content, found: Rendition, how: { workDir: string; encoder: VideoEncoderName | undefined; trail: { log: string } }): Promise<Produced> {
    const { encoder, trail } = how;
    this.parts.metrics.initEncodes.inc({ kind: found.kind });
    const encryption = await spanEncryption(this.parts.protector, content, found, 'init');
    const init = await makeInitSegment({ sourcePath: content.absolutePath, plan: content.plan, found, ...how, limits: this.parts.limits, encryption });
    const initProblem = this.segments.problem(initFileOf(this.segments, content, found, this.parts.protector), init);
    if (initProblem) throw new EncodeError(`the encoder's init segment does not fit the manifests: ${initProblem}`, trail.log);
    this.counters.initsEncoded++;
    if (encoder && isHardware(encoder)) this.parts.encoders.hardwareSucceeded();
    return { init, segment: Buffer.alloc(0), ...(encoder ? { encoder } : {}) };
  }

  /** One try: encode the span, package it, and check both files as the store will. */
  private async encodeOnce(
    content: Content,
    found: Rendition,
    index: number,
    reason: TaskReason,
    how: { workDir: string; encoder: VideoEncoderName | undefined; attempt: number; trail: { log: string }; tier: SpeedTier },
  ): Promise<Produced> {
    const { plan } = content;
    const { encoder, trail, tier } = how;
    const planned = found.kind === 'video' ? plan.videoSegments[index]! : found.rendition.segments[index]!;
    this.parts.metrics.transcodes.inc({ kind: found.kind, reason });
    const ref = { content: content.metadata.hash, kind: found.kind, rendition: found.rendition.id, segment: index + 1 };
    const startSeconds = planned.start / plan.timescale;
    const started = performance.now();
    const limits: SpanLimits = {
      ...this.parts.limits,
      onProgress: ({ outSeconds, speed }) => this.parts.events.emit({ type: 'ProgressUpdate', ...ref, mediaSeconds: Math.max(0, outSeconds - startSeconds), speed }),
    };
    const { init, segment } = await makeSpanSegment({
      ...how,
      sourcePath: content.absolutePath,
      plan,
      found,
      index,
      limits,
      encryption: await spanEncryption(this.parts.protector, content, found, index + 1),
      expect: segmentFileOf(this.segments, content, found, index + 1).expect,
      indexStorage: found.kind === 'audio' ? sampleIndexStorageOf(this.segments, content.metadata.hash, found.rendition.trackIndex, this.parts.logger) : undefined,
    });
    const initProblem = this.segments.problem(initFileOf(this.segments, content, found, this.parts.protector), init);
    if (initProblem) throw new EncodeError(`the encoder's init segment does not fit the manifests: ${initProblem}`, trail.log);
    this.counters.spansEncoded++;
    if (encoder && isHardware(encoder)) this.parts.encoders.hardwareSucceeded();
    const encodeMs = performance.now() - started;
    const mediaSeconds = planned.duration / plan.timescale;
    this.parts.events.emit({ type: 'TranscodeCompleted', ...ref, encoder: encoder ?? 'aac', encodeMs, mediaSeconds, speed: mediaSeconds / (encodeMs / 1000) });
    if (found.kind === 'video' && tier === 'normal') this.parts.degraded?.recordNormalSpeed(ref, mediaSeconds / (encodeMs / 1000));
    this.parts.sessions.addLog(ref.content, ref.kind, ref.rendition, ref.segment, trail.log);
    return { init, segment, ...(encoder ? { encoder } : {}) };
  }
}

/** A player cannot play a rendition without its init segment: asking for one is a start (a prefetch stays a prefetch). */
function startIfInit(number: number | 'init', reason: TaskReason): TaskReason {
  return number === 'init' && reason === 'request' ? 'start' : reason;
}
