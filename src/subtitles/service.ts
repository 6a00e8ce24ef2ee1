import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { SingleFlight } from '../coordinate/single-flight.js';
import { EncodeError, NotFoundError } from '../errors.js';
import type { Content } from '../library/content.js';
import type { Logger } from '../observe/log.js';
import { ProcessError } from '../process/runner.js';
import { parseWebVtt, type Cue } from '../package/webvtt.js';
import { planSubtitles, type SubtitlePlan, type SubtitleTrack } from '../plan/subtitles.js';
import { findSidecars, sidecarStamp } from '../probe/sidecars.js';
import { isGoneError, openedPath, openNoFollow } from '../library/source-file.js';
import type { SegmentStore } from '../store/segment-store.js';
import { extractWebVtt } from '../transcode/subtitles.js';

/**
 * A content's subtitles: which tracks it offers (its text streams, from the
 * probe, and the sidecar files beside it, looked at again at most every few
 * seconds, so a file added later is offered), and each track's cues, made
 * lazily: the first request converts the whole track to WebVTT (one ffmpeg),
 * which is kept in the store beside the content's probe, so it is converted
 * once per track, not once per segment or per restart.
 */

/** Sidecars are looked for again after this long (one readdir). */
const SIDECAR_RECHECK_MS = 5_000;
/** Parsed tracks kept in memory (a film's track: a few hundred KB). */
const CUES_IN_MEMORY = 64;

export interface ContentSubtitles extends SubtitlePlan {
  /** Changes whenever the offered tracks do: part of the version manifests are cached under. */
  fingerprint: string;
}

export class SubtitleService {
  private readonly listed = new WeakMap<Content, { at: number; subtitles: Promise<ContentSubtitles> }>();
  private readonly cues = new LRUCache<string, Cue[]>({ max: CUES_IN_MEMORY });
  private readonly flights = new SingleFlight<Cue[]>();
  /** Tracks converted by ffmpeg in this process (not read from the store). */
  extractions = 0;

  constructor(
    private readonly store: SegmentStore,
    private readonly logger: Logger,
  ) {}

  /** The tracks offered and those not (with why). */
  subtitlesOf(content: Content): Promise<ContentSubtitles> {
    const known = this.listed.get(content);
    if (known && Date.now() - known.at < SIDECAR_RECHECK_MS) return known.subtitles;
    const subtitles = findSidecars(content.absolutePath).then((sidecars) => {
      const plan = planSubtitles(content.probe.subtitles ?? [], sidecars);
      return { ...plan, fingerprint: plan.tracks.map((t) => `${t.id}:${t.isDefault ? 1 : 0}:${t.name}`).join(',') };
    });
    this.listed.set(content, { at: Date.now(), subtitles });
    subtitles.catch(() => this.listed.delete(content));
    return subtitles;
  }

  async track(content: Content, id: string): Promise<SubtitleTrack> {
    const track = (await this.subtitlesOf(content)).tracks.find((t) => t.id === id);
    if (!track) throw new NotFoundError(`no subtitle track "${id}"`);
    return track;
  }

  /** The track's cues on the source timeline, from memory, the store, or a conversion of the track. */
  cuesOf(content: Content, track: SubtitleTrack): Promise<Cue[]> {
    const key = `${content.metadata.hash}/${track.id}`;
    const cached = this.cues.get(key);
    if (cached) return Promise.resolve(cached);
    return this.flights.run(key, async () => {
      const name = `subtitles-${track.id}.vtt`;
      const stored = await this.store.readAside(content.metadata.hash, name);
      let text = stored?.toString('utf8');
      if (text === undefined || !text.startsWith('WEBVTT')) {
        text = await this.extract(content, track);
        this.extractions++;
        await this.store.keepAside(content.metadata.hash, name, Buffer.from(text));
      }
      const cues = parseWebVtt(text);
      this.cues.set(key, cues);
      return cues;
    });
  }

  private async extract(content: Content, track: SubtitleTrack): Promise<string> {
    const { source } = track;
    const started = performance.now();
    let text: string;
    try {
      text = source.kind === 'stream' ? await content.withSource((sourcePath) => extractWebVtt(source, sourcePath)) : await this.extractSidecar(content, track);
    } catch (err) {
      // ffmpeg's last words may name the file: the client gets the exit code, the log keeps the rest.
      if (!(err instanceof ProcessError)) throw err;
      this.logger.warn({ content: content.metadata.hash, track: track.id, err: err.message, log: err.log }, 'subtitle track conversion failed');
      throw new EncodeError(`the subtitle track could not be converted to WebVTT (${err.timedOut ? 'timed out' : `ffmpeg exit code ${err.exitCode ?? '?'}`})`, err.log);
    }
    this.logger.info({ content: content.metadata.hash, track: track.id, ms: Math.round(performance.now() - started) }, 'subtitle track converted to WebVTT');
    return text;
  }

  /**
   * A sidecar is converted only while it is still the version its track id
   * names, from the file opened here without following a symlink and read by
   * ffmpeg through that open file (/proc/<pid>/fd/<n>), so a name swapped for
   * a link between the check and ffmpeg's open cannot lead it out of the directory.
   */
  private async extractSidecar(content: Content, track: SubtitleTrack): Promise<string> {
    const { source } = track;
    if (source.kind !== 'sidecar') throw new Error('not a sidecar track');
    const gone = () => new NotFoundError(`subtitle file "${source.file}" has changed or gone`);
    const dir = path.dirname(content.absolutePath);
    const file = path.join(dir, source.file);
    let handle: FileHandle;
    try {
      handle = await openNoFollow(file);
    } catch (err) {
      if (isGoneError(err)) throw gone();
      throw err;
    }
    try {
      const info = await handle.stat();
      const real = await openedPath(handle);
      if (!info.isFile() || sidecarStamp(source.file, info) !== source.stamp || (real !== undefined && path.dirname(real) !== dir)) throw gone();
      return await extractWebVtt(source, real === undefined ? file : `/proc/${process.pid}/fd/${handle.fd}`);
    } finally {
      await handle.close();
    }
  }
}
