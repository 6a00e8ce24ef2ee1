import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ServiceUnavailableError } from '../errors.js';
import type { EventBus, StampedEvent } from '../observe/events.js';

/**
 * Who makes a file when several origin instances serve the same content.
 *
 * Without Redis every instance makes what it is asked for (LocalCoordinator).
 * With Redis (RedisCoordinator) one instance per file takes a lease (SET NX
 * PX, renewed while it works), makes the file, lists itself as a holder and
 * announces it on a channel; the others wait for the announcement (or the
 * lease to lapse, when the holder died: then one of them takes over), and
 * read the file from a shared cache directory or fetch it from a holder over
 * HTTP. When Redis is unreachable every call falls back to making the file
 * locally, and coordination resumes when it reconnects.
 *
 * The lease is taken when the encode starts, inside the local worker the
 * queue gave it, never while the encode waits for one: an instance whose
 * queue is busy does not hold up another that could make the file now. A
 * waiter whose player is waiting tells the lease holder (a "wanted"
 * message), which raises the encode if it is a prefetch; a waiter gives up
 * after `maxWaitMs` with 503 + Retry-After.
 *
 * A hand-written lease rather than BullMQ: a job queue hands each encode to
 * whichever worker pulls it, so most cold requests would be encoded on
 * another instance and copied back, the per-instance priority queue (player
 * requests before prefetch, stale prefetch dropped) would have to be rebuilt
 * on Redis, and its blocking connections wait for reconnects where a player
 * needs its segment now. The lease is two small Lua scripts.
 */

export interface Obtain {
  /**
   * Runs `work` once this instance has a worker free for it (the encode
   * queue), handing it `make`: makes the file here (encode, validate,
   * store); it is then ours to serve.
   */
  inWorker<T>(work: (make: () => Promise<Buffer>) => Promise<T>): Promise<T>;
  /** The file from this instance's store, when someone put it there (a shared volume). */
  readLocal(): Promise<Buffer | undefined>;
  /** The file from a holder; undefined when it no longer has it or cannot be reached. */
  fetchFromPeer(holderUrl: string): Promise<Buffer | undefined>;
  /** Whether a player waits for the file now (not only prefetch). */
  wanted(): boolean;
}

/** One file's lease, held by an encode run (coordinate/heads.ts) from before its encode until the file is stored. */
export interface SegmentLease {
  /** Lets the lease go; `made`: the file is in this instance's store now, announced to the cluster first. */
  end(made: boolean): Promise<void>;
}

const LOCAL_LEASE: SegmentLease = { end: async () => {} };

export interface Coordinator {
  obtain(key: string, how: Obtain): Promise<Buffer>;
  /**
   * The lease on `key` for an encode this instance starts now in a worker it holds, or undefined when another
   * instance makes the file or a holder has it already (a run then stops before it). Without a cluster: granted.
   */
  lease(key: string): Promise<SegmentLease | undefined>;
  /** This instance now has the file (made or fetched it). */
  announce(key: string): Promise<void>;
  /** Whether cluster coordination is in effect right now. */
  readonly connected: boolean;
  close(): Promise<void>;
}

export class LocalCoordinator implements Coordinator {
  readonly connected = false;
  obtain(_key: string, how: Obtain): Promise<Buffer> {
    return how.inWorker((make) => make());
  }
  async lease(): Promise<SegmentLease> {
    return LOCAL_LEASE;
  }
  async announce(): Promise<void> {}
  async close(): Promise<void> {}
}

export interface RedisCoordinatorOptions {
  redisUrl: string;
  /** This instance's base URL as peers reach it (http://host:port). */
  advertiseUrl: () => string;
  /** How long a lease lasts without renewal: the takeover time after a crash. */
  leaseMs: number;
  /** Holders are remembered this long (a holder may evict the file sooner; then the next is asked). */
  holderTtlSeconds?: number;
  /** How long a waiter waits for another instance to make a file before it answers 503 (default 15 s). */
  maxWaitMs?: number;
  /** Another instance's player waits for this key: raise it if it is being prefetched here. */
  onWanted?: (key: string) => void;
  log?: (message: string) => void;
}

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/** The lease, unless a holder has the file already (made while this encode waited for a worker). */
const ACQUIRE = `if redis.call('exists', KEYS[2]) == 1 then return 'HELD' end
if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 'OK' end
return 'BUSY'`;

const CHANNEL = 'jitseg:ready';
/** Keys a player waits for on some instance. */
const WANTED_CHANNEL = 'jitseg:wanted';
/** Pipeline events of every instance. */
const EVENTS_CHANNEL = 'jitseg:events';
/** A waiter looks again this often even without an announcement (a lapsed lease sends none). */
const POLL_MS = 250;
/** Redis calls that take longer than this count as Redis being away. */
const COMMAND_TIMEOUT_MS = 1000;
/** Retry-After for a waiter that gave up: about one encode. */
const RETRY_AFTER_SECONDS = 2;

/** From a worker: another instance holds the lease (wait for it), or a holder has the file now (fetch it). */
const BUSY = Symbol('busy');
const HELD = Symbol('held');

class RedisUnavailable extends Error {
  override name = 'RedisUnavailable';
}

export class RedisCoordinator implements Coordinator {
  private readonly id = randomUUID();
  private readonly commands: Redis;
  private readonly events: Redis;
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly leaseMs: number;
  private readonly holderTtl: number;
  private readonly maxWaitMs: number;
  private wasConnected = false;
  private onRemoteEvent: ((message: string) => void) | undefined;
  private closed = false;

  constructor(private readonly options: RedisCoordinatorOptions) {
    this.leaseMs = options.leaseMs;
    this.holderTtl = options.holderTtlSeconds ?? 3600;
    this.maxWaitMs = options.maxWaitMs ?? 15_000;
    const connection = {
      // Fail fast while disconnected: the caller then works locally instead of queueing behind a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: (attempt: number) => Math.min(100 * attempt, 1000),
      lazyConnect: false,
    };
    this.commands = new Redis(options.redisUrl, connection);
    this.events = new Redis(options.redisUrl, { ...connection, commandTimeout: undefined });
    for (const client of [this.commands, this.events]) {
      client.on('error', () => {}); // reported through 'ready'/'close' below, once per change
      client.on('ready', () => this.onConnectionChange());
      client.on('close', () => this.onConnectionChange());
    }
    this.events.on('ready', () => void this.subscribe());
    this.events.on('message', (channel: string, message: string) => {
      if (channel === CHANNEL) this.wake(message);
      else if (channel === EVENTS_CHANNEL) this.onRemoteEvent?.(message);
      else if (channel === WANTED_CHANNEL) options.onWanted?.(message);
    });
  }

  get connected(): boolean {
    return !this.closed && this.commands.status === 'ready' && this.events.status === 'ready';
  }

  /** Resolves once both connections are up (for start-up and tests). */
  async ready(timeoutMs = 5000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.connected && Date.now() < until) await sleep(20);
    return this.connected;
  }

  async obtain(key: string, how: Obtain): Promise<Buffer> {
    const giveUpAt = Date.now() + this.maxWaitMs;
    for (;;) {
      if (!this.connected) return how.inWorker((make) => make());
      let made: Buffer | typeof BUSY | typeof HELD = BUSY;
      try {
        const found = await this.fromHolders(key, how);
        if (found) return found;
        // Queue for a worker only when no one else is making it already.
        if ((await this.call(this.commands.exists(leaseKey(key)))) === 0) made = await how.inWorker((make) => this.makeUnderLease(key, make));
      } catch (err) {
        if (err instanceof RedisUnavailable) return how.inWorker((make) => make());
        throw err;
      }
      if (made === HELD) continue;
      if (made !== BUSY) return made;
      // Someone else is making it: wait for their announcement, or look again (their lease may lapse).
      if (how.wanted()) void this.call(this.commands.publish(WANTED_CHANNEL, key)).catch(() => undefined);
      const left = giveUpAt - Date.now();
      if (left <= 0) {
        throw new ServiceUnavailableError(`another instance has been making this file for over ${Math.round(this.maxWaitMs / 1000)} s`, RETRY_AFTER_SECONDS);
      }
      await this.waitForNews(key, Math.min(POLL_MS, left));
      const shared = await how.readLocal();
      if (shared) return shared;
    }
  }

  async lease(key: string): Promise<SegmentLease | undefined> {
    if (!this.connected) return LOCAL_LEASE;
    let answer: unknown;
    try {
      answer = await this.call(this.commands.eval(ACQUIRE, 2, leaseKey(key), holdersKey(key), this.id, this.leaseMs));
    } catch (err) {
      if (err instanceof RedisUnavailable) return LOCAL_LEASE; // as makeUnderLease: made here
      throw err;
    }
    if (answer !== 'OK') return undefined;
    const renewal = setInterval(() => {
      void this.call(this.commands.eval(RENEW, 1, leaseKey(key), this.id, this.leaseMs)).catch(() => undefined);
    }, Math.max(50, Math.floor(this.leaseMs / 3)));
    return {
      end: async (made) => {
        clearInterval(renewal);
        if (made) await this.announce(key);
        await this.call(this.commands.eval(RELEASE, 1, leaseKey(key), this.id)).catch(() => undefined);
        // Waiters look again at once: the file, or a free lease.
        await this.call(this.commands.publish(CHANNEL, key)).catch(() => undefined);
      },
    };
  }

  async announce(key: string): Promise<void> {
    if (!this.connected) return;
    try {
      await this.call(this.commands.multi().sadd(holdersKey(key), this.options.advertiseUrl()).expire(holdersKey(key), this.holderTtl).publish(CHANNEL, key).exec());
    } catch {
      // Peers then make it themselves: slower, never wrong.
    }
  }

  /** Relays the bus's events to the other instances and theirs to it (dropped while Redis is away). */
  relayEvents(bus: EventBus): void {
    bus.relayTo((event) => {
      if (this.connected) void this.commands.publish(EVENTS_CHANNEL, JSON.stringify(event)).catch(() => undefined);
    });
    this.onRemoteEvent = (message) => {
      try {
        const event = JSON.parse(message) as StampedEvent;
        if (event.instance !== bus.instance) bus.deliver(event);
      } catch {
        // not ours
      }
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of [...this.waiters.values()].flatMap((s) => [...s])) wake();
    this.commands.disconnect();
    this.events.disconnect();
  }

  /** In a local worker: takes the lease and makes the file, or says it is being (or was) made elsewhere. */
  private async makeUnderLease(key: string, make: () => Promise<Buffer>): Promise<Buffer | typeof BUSY | typeof HELD> {
    let answer: unknown;
    try {
      answer = await this.call(this.commands.eval(ACQUIRE, 2, leaseKey(key), holdersKey(key), this.id, this.leaseMs));
    } catch (err) {
      if (err instanceof RedisUnavailable) return make(); // this worker is ours: make it here
      throw err;
    }
    if (answer === 'HELD') return HELD;
    if (answer !== 'OK') return BUSY;
    const renewal = setInterval(() => {
      // A lost lease (we stalled past it) only means someone else may make the file too.
      void this.call(this.commands.eval(RENEW, 1, leaseKey(key), this.id, this.leaseMs)).catch(() => undefined);
    }, Math.max(50, Math.floor(this.leaseMs / 3)));
    try {
      const bytes = await make();
      await this.announce(key);
      return bytes;
    } finally {
      clearInterval(renewal);
      await this.call(this.commands.eval(RELEASE, 1, leaseKey(key), this.id)).catch(() => undefined);
      // Waiters look again at once: the file, or a free lease when this failed.
      await this.call(this.commands.publish(CHANNEL, key)).catch(() => undefined);
    }
  }

  /** The file from this store or a listed holder, if any has it. */
  private async fromHolders(key: string, how: Obtain): Promise<Buffer | undefined> {
    const holders = (await this.call(this.commands.smembers(holdersKey(key)))) as string[];
    if (holders.length === 0) return undefined;
    const self = this.options.advertiseUrl();
    const local = await how.readLocal();
    if (local) return local;
    for (const holder of holders) {
      // Listed, but evicted here since: unlisted like any holder that no longer has it.
      if (holder === self) {
        await this.call(this.commands.srem(holdersKey(key), holder)).catch(() => undefined);
        continue;
      }
      const bytes = await how.fetchFromPeer(holder);
      if (bytes) return bytes;
      // Gone or evicted: no one should ask it again.
      await this.call(this.commands.srem(holdersKey(key), holder)).catch(() => undefined);
    }
    return undefined;
  }

  private waitForNews(key: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(key);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      set.add(done);
    });
  }

  private wake(key: string): void {
    for (const done of [...(this.waiters.get(key) ?? [])]) done();
  }

  /** A Redis command; any failure of Redis itself becomes RedisUnavailable. */
  private async call<T>(command: Promise<T>): Promise<T> {
    try {
      return await command;
    } catch (err) {
      throw new RedisUnavailable((err as Error).message);
    }
  }

  /** Without these channels waiters fall back to polling and a player's wish never reaches a running prefetch: retried until it holds. */
  private async subscribe(): Promise<void> {
    try {
      await this.events.subscribe(CHANNEL, EVENTS_CHANNEL, WANTED_CHANNEL);
    } catch (err) {
      this.options.log?.(`redis subscribe failed (${(err as Error).message}): retrying in 1 s`);
      setTimeout(() => {
        if (this.events.status === 'ready') void this.subscribe();
      }, 1000).unref();
    }
  }

  private onConnectionChange(): void {
    const now = this.connected;
    if (now === this.wasConnected || this.closed) return;
    this.wasConnected = now;
    this.options.log?.(now ? 'redis connected: coordinating encodes across instances' : 'redis unavailable: coordinating encodes in this process until it is back');
    // Waiters re-evaluate at once (and work locally while Redis is away).
    for (const key of [...this.waiters.keys()]) this.wake(key);
  }
}

const leaseKey = (key: string) => `jitseg:lease:${key}`;
const holdersKey = (key: string) => `jitseg:holders:${key}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
