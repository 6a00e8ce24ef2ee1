/**
 * Memory held for sessions is bounded: the number of sessions (finished ones
 * forgotten first, then the least recently asked for), the tool output per
 * session and over all sessions together, each log entry, the last error,
 * the made-segments record; and the encode-rate window of the metrics.
 */
import { describe, expect, it } from 'vitest';
import { Metrics } from '../src/metrics.js';
import { EventBus } from '../src/observe/events.js';
import { LogBudget } from '../src/observe/log-budget.js';
import { SessionRegistry, type SessionLimits } from '../src/observe/sessions.js';

/** A content hash; the session id uses its first 16 hex digits, so n goes there. */
const hashOf = (n: number) => `${n.toString(16).padStart(16, '0')}${'0'.repeat(48)}`;
const idOf = (n: number) => SessionRegistry.idOf(hashOf(n), 'video', 'r1');

function registry(limits: Partial<SessionLimits>) {
  const bus = new EventBus('test');
  const sessions = new SessionRegistry(bus, () => true, limits);
  const ready = (n: number, segment: number) =>
    bus.emit({ type: 'SegmentReady', content: hashOf(n), kind: 'video', rendition: 'r1', segment, bytes: 1, source: 'encoded' });
  return { bus, sessions, ready, touch: (n: number, segments = 4) => sessions.touch(hashOf(n), 'video', 'r1', segments) };
}

const ids = (sessions: SessionRegistry) => sessions.list().map((s) => s.id);

describe('the session count', () => {
  it('stays at its cap, forgetting the least recently asked for', () => {
    const { sessions, touch } = registry({ maxSessions: 3 });
    for (const n of [1, 2, 3]) touch(n);
    touch(1); // asked for again: now the most recent
    touch(4);
    touch(5);
    expect(ids(sessions).sort()).toEqual([idOf(1), idOf(4), idOf(5)].sort());
    expect(sessions.usage().sessions).toBe(3);
  });

  it('forgets finished sessions before running ones, however recent', () => {
    const { sessions, touch, ready } = registry({ maxSessions: 3 });
    touch(1, 4);
    touch(2, 2);
    touch(3, 4);
    ready(2, 1);
    ready(2, 2); // session 2 finished: every segment made once
    ready(1, 1);
    expect(sessions.usage().finished).toBe(1);
    touch(4);
    expect(ids(sessions).sort()).toEqual([idOf(1), idOf(3), idOf(4)].sort());
    expect(sessions.usage().finished).toBe(0);
  });

  it('counts each segment once and ignores segment numbers outside the plan', () => {
    const { sessions, touch, ready } = registry({});
    touch(1, 10);
    for (const segment of [3, 3, 0, 11, -1, 2.5, 10]) ready(1, segment);
    expect(sessions.get(idOf(1))!.status).toMatchObject({ segmentsReady: 2, segmentsTotal: 10, state: 'Running' });
  });

  it('keeps a bounded last error', () => {
    const { bus, sessions, touch } = registry({});
    touch(1);
    bus.emit({ type: 'TranscodeFailed', content: hashOf(1), kind: 'video', rendition: 'r1', segment: 1, attempts: 3, reason: 'x'.repeat(100_000) });
    const health = sessions.get(idOf(1))!.health;
    expect(health.errors).toBe(1);
    expect(health.lastError!.length).toBeLessThanOrEqual(1_001);
  });
});

describe('session logs', () => {
  const line = (segment: number, size: number) => `segment ${segment} output `.padEnd(size, '.');

  it('keep the newest output of a session within its own cap', () => {
    const { sessions, touch } = registry({ maxSessionLogBytes: 1_000, maxTotalLogBytes: 100_000 });
    touch(1, 20);
    for (let segment = 1; segment <= 20; segment++) sessions.addLog(hashOf(1), 'video', 'r1', segment, line(segment, 300));
    const logs = sessions.get(idOf(1))!.logs;
    expect(Buffer.byteLength(logs)).toBeLessThanOrEqual(1_000);
    expect(logs).toContain('segment 20 output');
    expect(logs).not.toContain('segment 1 output');
    expect(sessions.usage().logBytes).toBe(Buffer.byteLength(logs));
  });

  it('cut one huge output to the cap, keeping its end', () => {
    const { sessions, touch } = registry({ maxSessionLogBytes: 2_000, maxTotalLogBytes: 100_000 });
    touch(1);
    sessions.addLog(hashOf(1), 'video', 'r1', 1, `first line\n${'é'.repeat(50_000)}\nthe error at the end`);
    const logs = sessions.get(idOf(1))!.logs;
    expect(Buffer.byteLength(logs)).toBeLessThanOrEqual(2_000);
    expect(logs).toMatch(/^--- segment 1 /);
    expect(logs).toContain('earlier output cut');
    expect(logs.trimEnd().endsWith('the error at the end')).toBe(true);
    expect(logs).not.toContain('\uFFFD');
  });

  it('stay under one global budget over all sessions, the oldest output going first', () => {
    const { sessions, touch } = registry({ maxSessionLogBytes: 2_000, maxTotalLogBytes: 5_000 });
    for (let n = 1; n <= 10; n++) {
      touch(n);
      sessions.addLog(hashOf(n), 'video', 'r1', 1, line(n, 1_500));
      expect(sessions.usage().logBytes).toBeLessThanOrEqual(5_000);
    }
    expect(sessions.get(idOf(1))!.logs).toBe('');
    expect(sessions.get(idOf(10))!.logs).toContain('segment 10 output');
    expect(sessions.get(idOf(8))!.logs).toContain('segment 8 output');
    // The sessions themselves stay; only their output went.
    expect(sessions.usage().sessions).toBe(10);
    const total = ids(sessions).reduce((sum, id) => sum + Buffer.byteLength(sessions.get(id)!.logs), 0);
    expect(total).toBe(sessions.usage().logBytes);
  });

  it('go with their session when it is forgotten', () => {
    const { sessions, touch } = registry({ maxSessions: 2, maxSessionLogBytes: 2_000, maxTotalLogBytes: 100_000 });
    touch(1);
    sessions.addLog(hashOf(1), 'video', 'r1', 1, line(1, 1_000));
    touch(2);
    touch(3);
    expect(sessions.get(idOf(1))).toBeUndefined();
    expect(sessions.usage()).toMatchObject({ sessions: 2, logBytes: 0, logEntries: 0 });
  });

  it('hold a bounded queue however many entries come and go', () => {
    const { sessions, touch } = registry({ maxSessions: 50, maxSessionLogBytes: 500, maxTotalLogBytes: 10_000 });
    for (let i = 0; i < 100_000; i++) {
      const n = i % 200; // more sessions than the cap: they are forgotten and started again
      touch(n);
      sessions.addLog(hashOf(n), 'video', 'r1', i, line(i, 120));
    }
    const usage = sessions.usage();
    expect(usage.sessions).toBe(50);
    expect(usage.logBytes).toBeLessThanOrEqual(10_000);
    expect(usage.logQueue).toBeLessThanOrEqual(Math.max(1024, usage.logEntries) * 2 + 1);
  });
});

describe('the log budget', () => {
  it('evicts the oldest live entries, skipping those their owner dropped', () => {
    const evicted: string[] = [];
    const budget = new LogBudget(300, (e) => evicted.push(e.text.trim()));
    const a = budget.add('a', '', 'a'.repeat(99), 1_000);
    budget.add('b', '', 'b'.repeat(99), 1_000);
    budget.drop(a);
    budget.add('c', '', 'c'.repeat(99), 1_000);
    budget.add('d', '', 'd'.repeat(99), 1_000); // 300 bytes: still within the budget
    expect(evicted).toEqual([]);
    budget.add('e', '', 'e'.repeat(99), 1_000);
    expect(evicted).toEqual(['b'.repeat(99)]);
    expect(budget.bytes).toBe(300);
    expect(budget.entries).toBe(3);
  });
});

describe('the encode-rate window', () => {
  it('holds a bounded number of encodes when nobody reads the rate', () => {
    const bus = new EventBus('test');
    const metrics = new Metrics({ cacheBytes: () => 0, cacheSegments: () => 0, queueDepth: () => 0, encodesRunning: () => 0, redisConnected: () => false }, bus);
    for (let i = 0; i < 25_000; i++) {
      bus.emit({ type: 'TranscodeCompleted', content: hashOf(1), kind: 'video', rendition: 'r1', segment: i + 1, encoder: 'libx264', encodeMs: 10, mediaSeconds: 2, speed: 200 });
    }
    expect(metrics.recentEncodeCount).toBeLessThanOrEqual(10_000);
    expect(metrics.encodeRate()).toBeCloseTo(200);
  });
});
