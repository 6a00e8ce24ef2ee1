import type { Content } from './library/media-library.js';
import { SingleFlight } from './coordinate/single-flight.js';
import { EncodeError, NotFoundError } from './errors.js';
import { avcCodecString, canonicalizeInit, findBoxes, retimeVideoFragment, setSequenceNumber, summarizeFragment } from './package/fmp4.js';
import { packageSpan } from './package/package.js';
import { segmentFileName, type AudioRendition, type Plan, type VideoRendition } from './plan/plan.js';
import { ProcessError } from './process/runner.js';
import type { ContentStore, MediaKind } from './store/content-store.js';
import { encodeAudioSpan, encodeVideoSpan, SpanError, type EncodedSpan } from './transcode/transcode.js';

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

/** Attempts per segment (the design's error threshold). */
const MAX_ATTEMPTS = 3;

export interface OriginCounters {
  /** Spans encoded and packaged (each attempt that produced a valid segment). */
  spansEncoded: number;
  /** Segments that failed after every attempt. */
  encodeFailures: number;
}

export class Origin {
  private readonly flights = new SingleFlight<Buffer>();
  readonly counters: OriginCounters = { spansEncoded: 0, encodeFailures: 0 };

  constructor(private readonly store: ContentStore) {}

  async get(request: SegmentRequest): Promise<Buffer> {
    const { content, kind, renditionId, number } = request;
    const { plan } = content;
    const found = findRendition(plan, kind, renditionId);
    const segmentCount = found.kind === 'video' ? plan.videoSegments.length : found.rendition.segments.length;
    if (number !== 'init' && (number < 1 || number > segmentCount)) throw new NotFoundError(`segment ${number} is out of range (1-${segmentCount})`);
    const hash = content.metadata.hash;
    const initPath = this.store.mediaPath(hash, kind, renditionId, 'init.mp4');
    if (number === 'init') {
      const cached = await this.store.read(initPath);
      if (cached) return cached;
      // The init segment comes out of packaging a span; the first one is wanted soon anyway.
      await this.get({ ...request, number: 1 });
      const made = await this.store.read(initPath);
      if (!made) throw new EncodeError('init segment was not written', '');
      return made;
    }
    const segmentPath = this.store.mediaPath(hash, kind, renditionId, segmentFileName(plan.segmentTemplate, number));
    const cached = await this.store.read(segmentPath);
    if (cached) return cached;
    return this.flights.run(segmentPath, async () => {
      const raced = await this.store.read(segmentPath);
      if (raced) return raced;
      const { init, segment } = await this.produce(content, found, number - 1).catch(async (err: unknown) => {
        // Keep what ffmpeg and the packager said, for whoever investigates the 502.
        if (err instanceof EncodeError && err.log) {
          await this.store.write(this.store.logPath(hash, kind, renditionId, number), err.log).catch(() => undefined);
        }
        throw err;
      });
      const storedInit = await this.store.read(initPath);
      if (!storedInit) await this.store.write(initPath, init);
      else if (!sameSampleDescription(storedInit, init)) throw new EncodeError('encoder output does not match the rendition init segment', '');
      await this.store.write(segmentPath, segment);
      return segment;
    });
  }

  private async produce(content: Content, found: Rendition, index: number): Promise<{ init: Uint8Array; segment: Buffer }> {
    const { plan } = content;
    let lastError: Error | undefined;
    const logs: string[] = [];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const workDir = await this.store.makeWorkDir();
      let log = '';
      try {
        const video = found.kind === 'video';
        const planned = video ? plan.videoSegments[index]! : found.rendition.segments[index]!;
        const span: EncodedSpan = video
          ? // A retry seeks further back, in case the demuxer's seek landed after the cut.
            await encodeVideoSpan(content.absolutePath, plan, found.rendition, plan.videoSegments[index]!, workDir, attempt > 1 ? { extraSeekBackSeconds: 30 } : {})
          : await encodeAudioSpan(content.absolutePath, plan, found.rendition, found.rendition.segments[index]!, workDir);
        log += span.log;
        const packaged = await packageSpan(span.tsPath, found.kind, workDir);
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
        return { init, segment: Buffer.from(setSequenceNumber(fragment, index + 1)) };
      } catch (err) {
        lastError = err as Error;
        if (err instanceof ProcessError || err instanceof SpanError) log += err.log;
        logs.push(`--- attempt ${attempt}: ${lastError.message}\n${log}`);
      } finally {
        await this.store.removeWorkDir(workDir);
      }
    }
    this.counters.encodeFailures++;
    const reason = lastError instanceof ProcessError ? `${lastError.tool} failed: ${lastError.message}` : (lastError?.message ?? 'unknown error');
    throw new EncodeError(reason, logs.join('\n'));
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
