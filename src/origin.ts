import type { Content } from './library/media-library.js';
import { SingleFlight } from './coordinate/single-flight.js';
import { EncodeError, NotFoundError, ServiceUnavailableError } from './errors.js';
import { avcCodecString, canonicalizeInit, findBoxes, retimeVideoFragment, setSequenceNumber, summarizeFragment } from './package/fmp4.js';
import { packageSpan } from './package/package.js';
import { segmentFileName, type AudioRendition, type Plan, type VideoRendition } from './plan/plan.js';
import { PreemptedError, ProcessError } from './process/runner.js';
import type { ContentStore, MediaKind } from './store/content-store.js';
import type { SegmentCache } from './store/segment-cache.js';
import type { Coordinator, Obtain } from './coordinate/cluster.js';
import { PRIORITY, type EncodeQueue, type TaskReason } from './coordinate/encode-queue.js';
import type { Metrics } from './metrics.js';
import { request as undiciRequest } from 'undici';
import { encodeAudioSpan, encodeVideoSpan, SpanError, type EncodedSpan, type SpanLimits } from './transcode/transcode.js';
import type { CircuitBreaker } from './coordinate/circuit-breaker.js';
import type { EventBus } from './observe/events.js';
import type { Logger } from './observe/log.js';
import type { SessionRegistry } from './observe/sessions.js';
import { isHardware, type EncoderSelector, type VideoEncoderName } from './transcode/encoders.js';
import path from 'node:path';

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

type Rendition = { kind: 'video'; rendition: VideoRendition } | { kind: 'audio'; rendition: AudioRendition };

export function findRendition(plan: Plan, kind: MediaKind, id: string): Rendition {
  if (kind === 'video') {
    const rendition = plan.renditions.find((r) => r.id === id);
    if (rendition) return { kind, rendition };
  } else {
    const rendition = plan.audio.find((r) => r.id === id);
    if (rendition) return { kind, rendition };
  }
  throw new NotFoundError(`no ${kind} rendition "${id}" for this content`);
}

export function segmentCountOf(plan: Plan, found: Rendition): number {
  return found.kind === 'video' ? plan.videoSegments.length : found.rendition.segments.length;
}

/** Beside a video rendition's init segment: the encoder that made it (its segments must all come from it). */
const ENCODER_FILE = 'encoder';

interface Produced {
  init: Uint8Array;
  segment: Buffer;
  /** The video encoder that made it. */
  encoder?: VideoEncoderName;
}

/** What a full disk frees at once: room for a few encodes' work files and outputs. */
const EMERGENCY_FREE_BYTES = 16 * 1024 * 1024;

/** Less free space than this on the cache disk counts as a full disk. */
const LOW_SPACE_BYTES = 1024 * 1024;

const STORAGE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'EMFILE', 'ENFILE']);

function isStorageError(err: unknown): boolean {
  return STORAGE_ERRORS.has((err as NodeJS.ErrnoException)?.code ?? '');
}

/** A full disk, as Node reports it or as ffmpeg and the packager say it. */
function isOutOfSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  const log = err instanceof ProcessError || err instanceof SpanError ? err.log : '';
  return /No space left on device|Disk quota exceeded|running out of disk space/i.test(`${(err as Error)?.message ?? ''}\n${log}`);
}

/** Attempts per segment (the design's error threshold). */
const MAX_ATTEMPTS = 3;

export interface OriginCounters {
  /** Spans encoded and packaged (each attempt that produced a valid segment). */
  spansEncoded: number;
  /** Segments that failed after every attempt. */
  encodeFailures: number;
}

export interface OriginParts {
  store: ContentStore;
  breaker: CircuitBreaker;
  limits: SpanLimits;
  /** The video encoder in use, and its fallback to libx264. */
  encoders: EncoderSelector;
  events: EventBus;
  sessions: SessionRegistry;
  logger: Logger;
  /** The query that authorizes a fetch from a peer when URLs are signed. */
  peerQuery?: (hash: string) => Promise<string>;
  cache: SegmentCache;
  queue: EncodeQueue;
  coordinator: Coordinator;
  metrics: Metrics;
}

export interface GetOptions {
  /** Why the file is wanted: a player waits for a request, nobody waits for a prefetch. Default request. */
  reason?: TaskReason;
  /** Drops a prefetch that is still waiting for a worker. */
  signal?: AbortSignal;
  /** Who asks: encode workers are shared fairly between clients. */
  client?: string;
  /** The HTTP request this comes from, for the encode's log lines. */
  requestId?: string;
  /**
   * Called once the file is found or its making is queued: work started
   * from here (prefetch) cannot take the worker this request is due.
   */
  onScheduled?: () => void;
}

/** Header on instance-to-instance fetches: answer from the store only, never encode. */
export const PEER_HEADER = 'x-jitseg-peer';

export class Origin {
  private readonly flights = new SingleFlight<Buffer>();
  /** Recorded encoder of each started video rendition, by init path. */
  private readonly renditionEncoders = new Map<string, VideoEncoderName>();
  readonly counters: OriginCounters = { spansEncoded: 0, encodeFailures: 0 };
  private readonly store: ContentStore;

  constructor(private readonly parts: OriginParts) {
    this.store = parts.store;
  }

  async get(request: SegmentRequest, options: GetOptions = {}): Promise<Buffer> {
    const reason = options.reason ?? 'request';
    const { content, kind, renditionId, number } = request;
    const started = performance.now();
    const file = this.locate(request);
    const { found } = file;
    const { queue, coordinator, metrics } = this.parts;
    this.parts.sessions.touch(content.metadata.hash, kind, renditionId, file.segmentCount);

    const stored = await this.readStored(file.path);
    if (stored) {
      if (reason === 'request') {
        metrics.hit('disk');
        metrics.segmentLatency.observe({ path: 'warm' }, (performance.now() - started) / 1000);
      }
      options.onScheduled?.();
      return stored;
    }
    if (reason === 'request') metrics.miss();
    this.parts.breaker.assertNotOpen(content.metadata.hash);
    if (reason === 'request') queue.raise(file.key, PRIORITY.request);
    // The init comes out of segment 1's encode, which queues for its own worker.
    const how: Obtain = {
      inWorker:
        number === 'init'
          ? (work) => work(() => this.makeInit(request, options))
          : (work) =>
              queue.run(file.key, (startedAs) => work(() => this.makeSegment(content, found, number - 1, startedAs, options.requestId)), {
                priority: PRIORITY[reason],
                ...(options.client ? { client: options.client } : {}),
                ...(options.signal ? { signal: options.signal } : {}),
              }),
      readLocal: () => this.readStored(file.path),
      fetchFromPeer: (holder) => this.fetchFromPeer(holder, request),
      wanted: () => queue.isWanted(file.key),
    };
    const made = this.flights.run(file.key, () => coordinator.obtain(file.key, how).finally(() => queue.release(file.key)));
    options.onScheduled?.();
    if (reason === 'request') void made.then(() => metrics.segmentLatency.observe({ path: 'cold' }, (performance.now() - started) / 1000), () => undefined);
    return made;
  }

  /** A file only if this instance's store has it (peers ask this way). */
  async getStored(request: SegmentRequest): Promise<Buffer> {
    const stored = await this.readStored(this.locate(request).path);
    if (!stored) throw new NotFoundError('not in this instance\'s store');
    return stored;
  }

  /** Whether the file is in the store (from the index: no disk access). */
  isStored(request: SegmentRequest): boolean {
    return this.parts.cache.has(this.locate(request).path);
  }

  /** Store path and cluster-wide key of a segment or init segment, and its rendition; checks both. */
  private locate({ content, kind, renditionId, number }: SegmentRequest) {
    const { plan } = content;
    const found = findRendition(plan, kind, renditionId);
    const segmentCount = segmentCountOf(plan, found);
    if (number !== 'init' && (!Number.isInteger(number) || number < 1 || number > segmentCount)) {
      throw new NotFoundError(`segment ${number} is out of range (1-${segmentCount})`);
    }
    const fileName = number === 'init' ? 'init.mp4' : segmentFileName(plan.segmentTemplate, number);
    const hash = content.metadata.hash;
    return { path: this.store.mediaPath(hash, kind, renditionId, fileName), key: `${hash}/${kind}/${renditionId}/${fileName}`, fileName, found, segmentCount };
  }

  private async readStored(filePath: string): Promise<Buffer | undefined> {
    const bytes = await this.store.read(filePath);
    if (bytes) this.parts.cache.touch(filePath, bytes.length);
    else this.parts.cache.forget(filePath);
    return bytes;
  }

  /** The init segment comes out of packaging a span: the first segment's, wanted soon anyway. */
  private async makeInit(request: SegmentRequest, options: GetOptions): Promise<Buffer> {
    const { path: initPath, found } = this.locate(request);
    const { onScheduled: _calledByTheInitRequest, ...forSegment } = options;
    await this.get({ ...request, number: 1 }, forSegment);
    const made = await this.readStored(initPath);
    if (made) return made;
    // Segment 1 came from a peer that had no init to give: encode it here for its init.
    await this.makeSegment(request.content, found, 0, options.reason ?? 'request', options.requestId, true);
    const remade = await this.readStored(initPath);
    if (!remade) throw new EncodeError('init segment was not written', '');
    return remade;
  }

  /** Encode, validate and store one segment (and the rendition's init segment when it has none). */
  private async makeSegment(content: Content, found: Rendition, index: number, reason: TaskReason, requestId?: string, forInit = false): Promise<Buffer> {
    const hash = content.metadata.hash;
    const { kind } = found;
    const renditionId = found.rendition.id;
    const log = this.parts.logger.child({ requestId, content: hash, kind, rendition: renditionId, segment: index + 1, reason });
    const request: SegmentRequest = { content, kind, renditionId, number: index + 1 };
    const segmentPath = this.locate(request).path;
    if (!forInit) {
      const raced = await this.readStored(segmentPath);
      if (raced) return raced;
    }
    const { breaker } = this.parts;
    breaker.admit(hash);
    let produced: Produced;
    try {
      produced = await this.produce(content, found, index, reason);
      breaker.succeeded(hash);
    } catch (err) {
      if (!(err instanceof EncodeError)) {
        breaker.abandoned(hash);
        throw err;
      }
      breaker.failed(hash);
      log.error({ err: err.message }, 'encode failed after every try');
      this.parts.events.emit({ type: 'TranscodeFailed', content: hash, kind, rendition: renditionId, segment: index + 1, reason: err.message, attempts: MAX_ATTEMPTS });
      this.parts.sessions.addLog(hash, kind, renditionId, index + 1, err.log);
      // Keep what ffmpeg and the packager said, and a TranscodeFailed record, for whoever investigates the 502.
      const logPath = this.store.logPath(hash, kind, renditionId, index + 1);
      const record = { event: 'TranscodeFailed', content: hash, kind, rendition: renditionId, segment: index + 1, reason: err.message, attempts: MAX_ATTEMPTS, at: new Date().toISOString() };
      await Promise.all([
        this.store.write(logPath, err.log),
        this.store.write(logPath.replace(/\.log$/, '.json'), JSON.stringify(record)),
      ]).catch(() => undefined);
      throw err;
    }
    const { init, segment, encoder } = produced;
    const initRequest: SegmentRequest = { ...request, number: 'init' };
    const initPath = this.locate(initRequest).path;
    const storedInit = await this.store.read(initPath);
    if (!storedInit) {
      // The rendition's encoder is fixed from here on: every later segment must match this init.
      if (encoder && (await this.keep(path.join(path.dirname(initPath), ENCODER_FILE), Buffer.from(encoder)))) this.renditionEncoders.set(initPath, encoder);
      if (await this.keep(initPath, init)) await this.parts.coordinator.announce(this.locate(initRequest).key);
    } else if (!sameSampleDescription(storedInit, init)) {
      throw new EncodeError('encoder output does not match the rendition init segment', '');
    }
    if (await this.keep(segmentPath, segment)) this.parts.cache.add(segmentPath, segment.length);
    this.parts.events.emit({ type: 'SegmentReady', content: hash, kind, rendition: renditionId, segment: index + 1, bytes: segment.length, source: 'encoded' });
    log.info({ bytes: segment.length, encoder: encoder ?? 'aac' }, 'segment made');
    return segment;
  }

  /**
   * Stores a made file. When the disk is full, the least recently used
   * segments make room and the write is tried once more; when it still
   * fails (full, or an I/O error) the file is served without being cached.
   * The atomic write never leaves a part behind either way.
   */
  private async keep(filePath: string, bytes: Uint8Array): Promise<boolean> {
    for (let tries = 0; ; tries++) {
      try {
        await this.store.write(filePath, bytes);
        return true;
      } catch (err) {
        if (!isStorageError(err)) throw err;
        this.parts.metrics.storeWriteErrors.inc();
        if (tries === 0 && isOutOfSpace(err)) {
          await this.parts.cache.freeSpace(Math.max(4 * bytes.length, EMERGENCY_FREE_BYTES));
          continue;
        }
        return false;
      }
    }
  }

  /** A file from another instance's store, kept in ours; undefined when it cannot give it. */
  private async fetchFromPeer(holder: string, request: SegmentRequest): Promise<Buffer | undefined> {
    const { content, kind, renditionId } = request;
    const { path: filePath, key, fileName } = this.locate(request);
    const url = `${holder}/api/v1/content/${content.metadata.hash}/${kind}/${encodeURIComponent(renditionId)}/${fileName}${(await this.parts.peerQuery?.(content.metadata.hash)) ?? ''}`;
    try {
      const response = await undiciRequest(url, { headers: { [PEER_HEADER]: '1' }, headersTimeout: 5000, bodyTimeout: 30_000 });
      if (response.statusCode !== 200) {
        await response.body.dump();
        return undefined;
      }
      const bytes = Buffer.from(await response.body.arrayBuffer());
      if (bytes.length === 0) return undefined;
      await this.store.write(filePath, bytes);
      this.parts.cache.add(filePath, bytes.length);
      this.parts.metrics.peerFetches.inc();
      if (request.number !== 'init') {
        this.parts.events.emit({ type: 'SegmentReady', content: content.metadata.hash, kind, rendition: renditionId, segment: request.number, bytes: bytes.length, source: 'peer' });
      }
      await this.parts.coordinator.announce(key);
      return bytes;
    } catch {
      return undefined;
    }
  }

  /**
   * The encoder a video rendition's segments must use: the one that made its
   * init segment (recorded beside it), or, for a rendition not started yet,
   * the one in use now.
   */
  private async videoEncoderFor(content: Content, renditionId: string): Promise<{ encoder: VideoEncoderName; fixed: boolean }> {
    const initPath = this.locate({ content, kind: 'video', renditionId, number: 'init' }).path;
    let recorded = this.renditionEncoders.get(initPath);
    if (!recorded && (await this.store.read(initPath))) {
      // Renditions started before encoders were recorded were made with libx264.
      recorded = ((await this.store.read(path.join(path.dirname(initPath), ENCODER_FILE)))?.toString('utf8').trim() || 'libx264') as VideoEncoderName;
      this.renditionEncoders.set(initPath, recorded);
    }
    return recorded ? { encoder: recorded, fixed: true } : { encoder: this.parts.encoders.current, fixed: false };
  }

  private async produce(content: Content, found: Rendition, index: number, reason: TaskReason): Promise<Produced> {
    const { plan } = content;
    let lastError: Error | undefined;
    const logs: string[] = [];
    let outOfSpace = 0;
    const { encoders } = this.parts;
    let { encoder, fixed } = found.kind === 'video' ? await this.videoEncoderFor(content, found.rendition.id) : { encoder: undefined, fixed: true };
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let workDir: string | undefined;
      let log = '';
      try {
        workDir = await this.store.makeWorkDir();
        const video = found.kind === 'video';
        const planned = video ? plan.videoSegments[index]! : found.rendition.segments[index]!;
        this.parts.metrics.transcodes.inc({ kind: found.kind, reason });
        const ref = { content: content.metadata.hash, kind: found.kind, rendition: found.rendition.id, segment: index + 1 };
        const startSeconds = planned.start / plan.timescale;
        const started = performance.now();
        const limits: SpanLimits = {
          ...this.parts.limits,
          onProgress: ({ outSeconds, speed }) =>
            this.parts.events.emit({ type: 'ProgressUpdate', ...ref, mediaSeconds: Math.max(0, outSeconds - startSeconds), speed }),
        };
        const span: EncodedSpan = video
          ? // A retry seeks further back, in case the demuxer's seek landed after the cut.
            await encodeVideoSpan(
                content.absolutePath,
                plan,
                found.rendition,
                plan.videoSegments[index]!,
                workDir,
                { encoder, ...(attempt > 1 ? { extraSeekBackSeconds: 30 } : {}) },
                limits,
              )
          : await encodeAudioSpan(content.absolutePath, plan, found.rendition, found.rendition.segments[index]!, workDir, limits);
        log += span.log;
        const packaged = await packageSpan(span.tsPath, found.kind, workDir, limits);
        log += packaged.log;
        const fragment = video ? retimeVideoFragment(packaged.segment, planned.start + planned.duration, plan.videoDecodeDelay) : packaged.segment;
        const summary = summarizeFragment(fragment);
        if (
          summary.sampleCount !== planned.frameCount ||
          summary.baseMediaDecodeTime !== planned.start ||
          summary.duration !== planned.duration ||
          !summary.startsWithSync
        ) {
          throw new EncodeError(
            `segment ${index + 1} does not match the plan: ${summary.sampleCount}/${planned.frameCount} samples, ` +
              `tfdt ${summary.baseMediaDecodeTime}/${planned.start}, duration ${summary.duration}/${planned.duration}, sync start ${summary.startsWithSync}`,
            log,
          );
        }
        const init = canonicalizeInit(packaged.init, { ...initFields(plan, found), ...(video ? { editMediaTime: plan.videoDecodeDelay } : {}) });
        if (found.kind === 'video' && avcCodecString(init) !== found.rendition.codecs) {
          throw new EncodeError(`encoder wrote ${avcCodecString(init)}, manifests declare ${found.rendition.codecs}`, log);
        }
        this.counters.spansEncoded++;
        if (encoder && isHardware(encoder)) encoders.hardwareSucceeded();
        const encodeMs = performance.now() - started;
        const mediaSeconds = planned.duration / plan.timescale;
        this.parts.events.emit({ type: 'TranscodeCompleted', ...ref, encoder: encoder ?? 'aac', encodeMs, mediaSeconds, speed: mediaSeconds / (encodeMs / 1000) });
        this.parts.sessions.addLog(ref.content, ref.kind, ref.rendition, ref.segment, log);
        return { init, segment: Buffer.from(setSequenceNumber(fragment, index + 1)), ...(encoder ? { encoder } : {}) };
      } catch (err) {
        // Not a failure: the encode starts again at normal priority.
        if (err instanceof PreemptedError) throw err;
        lastError = err as Error;
        if (err instanceof ProcessError || err instanceof SpanError) log += err.log;
        logs.push(`--- attempt ${attempt}${encoder ? ` (${encoder})` : ''}: ${lastError.message}\n${log}`);
        if (encoder && isHardware(encoder)) {
          encoders.hardwareFailed(lastError.message);
          if (!fixed) {
            // A rendition not started yet: encode this segment with libx264 at once (a full set of tries),
            // and the rendition stays on libx264.
            encoder = 'libx264';
            fixed = true;
            attempt = 0;
            continue;
          }
        }
        // Tools do not always say so (an ffmpeg writing a short file exits 0): ask the file system too.
        if (isOutOfSpace(err) || ((await this.store.freeBytes()) ?? Infinity) < LOW_SPACE_BYTES) {
          // The work files did not fit: make room from the least recently used segments and try again.
          outOfSpace++;
          await this.parts.cache.freeSpace(EMERGENCY_FREE_BYTES);
        }
      } finally {
        if (workDir) await this.store.removeWorkDir(workDir);
      }
    }
    if (outOfSpace === MAX_ATTEMPTS) {
      // Not the content's fault: no breaker, no 502; the disk may have room again soon.
      throw new ServiceUnavailableError('the cache disk is full', 10);
    }
    this.counters.encodeFailures++;
    const why = lastError?.message ?? 'unknown error';
    throw new EncodeError(why, logs.join('\n'));
  }
}

function initFields(plan: Plan, found: Rendition) {
  const durationTicks = Math.round(plan.durationSeconds * plan.timescale);
  if (found.kind === 'video') {
    return { durationTicks, maxBitrate: found.rendition.peakBandwidth, avgBitrate: found.rendition.averageBandwidth };
  }
  const bitrate = found.rendition.bitrateKbps * 1000;
  return { durationTicks, maxBitrate: bitrate, avgBitrate: bitrate };
}

/** Whether two init segments describe the same decoder configuration (their stsd boxes match). */
function sameSampleDescription(a: Uint8Array, b: Uint8Array): boolean {
  const stsd = (init: Uint8Array) => {
    const box = findBoxes(init, ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd'])[0];
    return box ? Buffer.from(init.subarray(box.start, box.end)) : undefined;
  };
  const [x, y] = [stsd(a), stsd(b)];
  return x !== undefined && y !== undefined && x.equals(y);
}
