import type { MediaKind } from '../store/content-store.js';
import type { EventBus, StampedEvent } from './events.js';

/**
 * Transcode sessions, one per (content, rendition), with the design's
 * lifecycle: Starting (asked for, nothing made yet) → Running (segments
 * being made) → Completed (every segment made once) → Stored (every segment
 * in the store now); Failed when the last encode failed after its retries
 * (a later success makes it Running again). Fed by the event bus.
 */

export type SessionState = 'Starting' | 'Running' | 'Completed' | 'Stored' | 'Failed';

interface Session {
  id: string;
  content: string;
  kind: MediaKind;
  rendition: string;
  segmentCount: number;
  createdAt: string;
  made: Set<number>;
  failed: boolean;
  errors: number;
  lastError?: string;
  /** Recent encodes: wall time and media seconds. */
  recent: Array<{ segment: number; encodeMs: number; mediaSeconds: number; at: string }>;
  logs: string[];
  logChars: number;
}

const RECENT_ENCODES = 20;
/** Tool output kept per session (the newest). */
const MAX_LOG_CHARS = 64 * 1024;
/** Sessions kept (the oldest are forgotten first). */
const MAX_SESSIONS = 10_000;

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();

  constructor(
    bus: EventBus,
    /** Whether a segment is in the store now (for Stored). */
    private readonly isStored: (content: string, kind: MediaKind, rendition: string, segment: number) => boolean,
  ) {
    bus.subscribe((event) => this.onEvent(event));
  }

  static idOf(content: string, kind: MediaKind, rendition: string): string {
    return `${content.slice(0, 16)}-${kind}-${rendition}`;
  }

  /** A rendition was asked for: its session starts (once). */
  touch(content: string, kind: MediaKind, rendition: string, segmentCount: number): void {
    const id = SessionRegistry.idOf(content, kind, rendition);
    if (this.sessions.has(id)) return;
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(id, {
      id, content, kind, rendition, segmentCount, createdAt: new Date().toISOString(),
      made: new Set(), failed: false, errors: 0, recent: [], logs: [], logChars: 0,
    });
  }

  /** Tool output of an encode (success or failure), kept bounded. */
  addLog(content: string, kind: MediaKind, rendition: string, segment: number, log: string): void {
    const session = this.sessions.get(SessionRegistry.idOf(content, kind, rendition));
    if (!session || !log) return;
    const entry = `--- segment ${segment} (${new Date().toISOString()})\n${log.trimEnd()}\n`;
    session.logs.push(entry);
    session.logChars += entry.length;
    while (session.logChars > MAX_LOG_CHARS && session.logs.length > 1) session.logChars -= session.logs.shift()!.length;
  }

  list() {
    return [...this.sessions.values()].map((s) => this.status(s));
  }

  get(id: string) {
    const session = this.sessions.get(id);
    return session && { status: this.status(session), health: this.health(session), logs: session.logs.join('') };
  }

  private state(session: Session): SessionState {
    if (session.failed) return 'Failed';
    if (session.made.size === 0) return 'Starting';
    if (session.made.size < session.segmentCount) return 'Running';
    for (let n = 1; n <= session.segmentCount; n++) {
      if (!this.isStored(session.content, session.kind, session.rendition, n)) return 'Completed';
    }
    return 'Stored';
  }

  private status(session: Session) {
    return {
      id: session.id,
      content: session.content,
      kind: session.kind,
      rendition: session.rendition,
      state: this.state(session),
      segmentsReady: session.made.size,
      segmentsTotal: session.segmentCount,
      createdAt: session.createdAt,
    };
  }

  private health(session: Session) {
    const encodeMs = session.recent.reduce((sum, r) => sum + r.encodeMs, 0);
    const mediaSeconds = session.recent.reduce((sum, r) => sum + r.mediaSeconds, 0);
    return {
      // Media seconds made per second of encoding: above 1 keeps up with a player.
      encodeRate: encodeMs > 0 ? mediaSeconds / (encodeMs / 1000) : null,
      segmentsReady: session.made.size,
      segmentsTotal: session.segmentCount,
      recentSegments: session.recent.map((r) => ({ segment: r.segment, latencyMs: Math.round(r.encodeMs), at: r.at })),
      errors: session.errors,
      ...(session.lastError ? { lastError: session.lastError } : {}),
    };
  }

  private onEvent(event: StampedEvent): void {
    if (event.type === 'ManifestUpdated') return;
    const session = this.sessions.get(SessionRegistry.idOf(event.content, event.kind, event.rendition));
    if (!session) return;
    if (event.type === 'TranscodeCompleted') {
      session.recent.push({ segment: event.segment, encodeMs: event.encodeMs, mediaSeconds: event.mediaSeconds, at: event.at });
      if (session.recent.length > RECENT_ENCODES) session.recent.shift();
    } else if (event.type === 'SegmentReady') {
      session.made.add(event.segment);
      session.failed = false;
    } else if (event.type === 'TranscodeFailed') {
      session.failed = true;
      session.errors++;
      session.lastError = event.reason;
    }
  }
}
