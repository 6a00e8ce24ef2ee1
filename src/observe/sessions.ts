import type { MediaKind } from '../store/content-store.js';
import type { EventBus, StampedEvent } from './events.js';
import { LogBudget, type LogEntry } from './log-budget.js';

/**
 * Transcode sessions, one per (content, rendition), with the design's
 * lifecycle: Starting (asked for, nothing made yet) → Running (segments
 * being made) → Completed (every segment made once) → Stored (every segment
 * in the store now); Failed when the last encode failed after its retries
 * (a later success makes it Running again). Fed by the event bus.
 *
 * Everything here is bounded: the number of sessions (finished ones are
 * forgotten first, then the least recently asked for), the tool output kept
 * per session and over all sessions together (the oldest output goes
 * first), the recent encodes and the last error of each session; which
 * segments were made is one bit per segment.
 */

export type SessionState = 'Starting' | 'Running' | 'Completed' | 'Stored' | 'Failed';

export interface SessionLimits {
  /** Sessions kept. */
  maxSessions: number;
  /** Tool output kept per session (the newest), bytes. */
  maxSessionLogBytes: number;
  /** Tool output kept over all sessions together (the newest), bytes. */
  maxTotalLogBytes: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxSessions: 2_000,
  maxSessionLogBytes: 64 * 1024,
  maxTotalLogBytes: 16 * 1024 * 1024,
};

const RECENT_ENCODES = 20;
/** The last error is a one-line reason; anything longer is cut. */
const MAX_ERROR_CHARS = 1_000;

interface Session {
  id: string;
  content: string;
  kind: MediaKind;
  rendition: string;
  segmentCount: number;
  createdAt: string;
  /** Bit n-1 set when segment n was made. */
  made: Uint8Array;
  madeCount: number;
  failed: boolean;
  errors: number;
  lastError?: string;
  /** Recent encodes: wall time and media seconds. */
  recent: Array<{ segment: number; encodeMs: number; mediaSeconds: number; at: string }>;
  logs: LogEntry[];
  logBytes: number;
}

export class SessionRegistry {
  /** By id, least recently asked for first. */
  private readonly sessions = new Map<string, Session>();
  /** Ids of sessions whose every segment was made, in the order they finished: forgotten first. */
  private readonly finished = new Set<string>();
  private readonly logs: LogBudget;
  private readonly limits: SessionLimits;

  constructor(
    bus: EventBus,
    /** Whether a segment is in the store now (for Stored). */
    private readonly isStored: (content: string, kind: MediaKind, rendition: string, segment: number) => boolean,
    limits: Partial<SessionLimits> = {},
  ) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...limits };
    this.logs = new LogBudget(this.limits.maxTotalLogBytes, (entry) => this.forgetOldestLog(entry));
    bus.subscribe((event) => this.onEvent(event));
  }

  static idOf(content: string, kind: MediaKind, rendition: string): string {
    return `${content.slice(0, 16)}-${kind}-${rendition}`;
  }

  /** A rendition was asked for: its session starts (once), and becomes the most recently used. */
  touch(content: string, kind: MediaKind, rendition: string, segmentCount: number): void {
    const id = SessionRegistry.idOf(content, kind, rendition);
    const existing = this.sessions.get(id);
    if (existing) {
      this.sessions.delete(id);
      this.sessions.set(id, existing);
      return;
    }
    while (this.sessions.size >= this.limits.maxSessions) this.forget(this.leastWanted());
    this.sessions.set(id, {
      id, content, kind, rendition, segmentCount, createdAt: new Date().toISOString(),
      made: new Uint8Array(Math.ceil(segmentCount / 8)), madeCount: 0,
      failed: false, errors: 0, recent: [], logs: [], logBytes: 0,
    });
  }

  /** Tool output of an encode (success or failure), kept within the per-session and global budgets. */
  addLog(content: string, kind: MediaKind, rendition: string, segment: number, log: string): void {
    const session = this.sessions.get(SessionRegistry.idOf(content, kind, rendition));
    if (!session || !log) return;
    const entry = this.logs.add(session.id, `--- segment ${segment} (${new Date().toISOString()})\n`, log.trimEnd(), this.limits.maxSessionLogBytes);
    session.logs.push(entry);
    session.logBytes += entry.bytes;
    while (session.logBytes > this.limits.maxSessionLogBytes && session.logs.length > 1) this.dropFirstLog(session);
  }

  list() {
    return [...this.sessions.values()].map((s) => this.status(s));
  }

  get(id: string) {
    const session = this.sessions.get(id);
    return session && { status: this.status(session), health: this.health(session), logs: session.logs.map((e) => e.text).join('') };
  }

  /** What is held now: for tests and the soak bench. */
  usage(): { sessions: number; finished: number; logBytes: number; logEntries: number; logQueue: number } {
    return { sessions: this.sessions.size, finished: this.finished.size, logBytes: this.logs.bytes, logEntries: this.logs.entries, logQueue: this.logs.held };
  }

  /** The session to forget to make room: the first finished one, else the least recently asked for. */
  private leastWanted(): string {
    const finished = this.finished.values().next();
    return finished.done ? this.sessions.keys().next().value! : finished.value;
  }

  private forget(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    while (session.logs.length > 0) this.dropFirstLog(session);
    this.sessions.delete(id);
    this.finished.delete(id);
  }

  private dropFirstLog(session: Session): void {
    const entry = session.logs.shift()!;
    session.logBytes -= entry.bytes;
    this.logs.drop(entry);
  }

  /** The global budget is over: its oldest entry goes (it is the first of its session's, which are in order). */
  private forgetOldestLog(entry: LogEntry): void {
    const session = this.sessions.get(entry.owner);
    if (session?.logs[0] !== entry) throw new Error(`session log budget out of step: the oldest entry is not the first of ${entry.owner}`);
    session.logs.shift();
    session.logBytes -= entry.bytes;
  }

  private state(session: Session): SessionState {
    if (session.failed) return 'Failed';
    if (session.madeCount === 0) return 'Starting';
    if (session.madeCount < session.segmentCount) return 'Running';
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
      segmentsReady: session.madeCount,
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
      segmentsReady: session.madeCount,
      segmentsTotal: session.segmentCount,
      recentSegments: session.recent.map((r) => ({ segment: r.segment, latencyMs: Math.round(r.encodeMs), at: r.at })),
      errors: session.errors,
      ...(session.lastError ? { lastError: session.lastError } : {}),
    };
  }

  private markMade(session: Session, segment: number): void {
    if (!Number.isInteger(segment) || segment < 1 || segment > session.segmentCount) return;
    const byte = (segment - 1) >> 3;
    const bit = 1 << ((segment - 1) & 7);
    if (session.made[byte]! & bit) return;
    session.made[byte]! |= bit;
    session.madeCount++;
    if (session.madeCount === session.segmentCount) this.finished.add(session.id);
  }

  private onEvent(event: StampedEvent): void {
    if (event.type === 'ManifestUpdated') return;
    const session = this.sessions.get(SessionRegistry.idOf(event.content, event.kind, event.rendition));
    if (!session) return;
    if (event.type === 'TranscodeCompleted') {
      session.recent.push({ segment: event.segment, encodeMs: event.encodeMs, mediaSeconds: event.mediaSeconds, at: event.at });
      if (session.recent.length > RECENT_ENCODES) session.recent.shift();
    } else if (event.type === 'SegmentReady') {
      this.markMade(session, event.segment);
      session.failed = false;
    } else if (event.type === 'TranscodeFailed') {
      session.failed = true;
      session.errors++;
      session.lastError = event.reason.length > MAX_ERROR_CHARS ? `${event.reason.slice(0, MAX_ERROR_CHARS)}…` : event.reason;
    }
  }
}
