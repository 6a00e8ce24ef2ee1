/**
 * A player never waits for prefetch. Prefetch runs in slots of its own at
 * nice 19; a player asking for a segment being prefetched raises it to
 * normal priority (or, without the privilege to renice, it is killed and run
 * again as a request); across instances the lease is taken when an encode
 * starts, not while it waits for a worker.
 *
 * The proof is event order, never durations: a wrapper around ffmpeg holds
 * every run at low priority until the test opens a gate (a CPU that gives
 * prefetch nothing), while runs at normal priority go straight on.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncodeQueue, PRIORITY, type TaskReason } from '../src/coordinate/encode-queue.js';
import { PreemptedError, ProcessLane, run, runInLane } from '../src/process/runner.js';
import { killInstance, startInstance } from './support/instances.js';
import { mediaFolder, testSource } from './support/media.js';
import { metricValue, scrape } from './support/metrics.js';
import { startRedis, type TestRedis } from './support/redis.js';
import { encoderWith, NO_PREFETCH, testServer, type TestServer } from './support/server.js';

interface Gated {
  /** The wrapper: logs its niceness, waits for the gate while niced, then runs `then`. */
  path: string;
  open(): Promise<void>;
  /** Niceness of every run so far, in order. */
  runs(): Promise<number[]>;
}

/**
 * `then` runs after the gate. ffmpeg's one-frame decode check of a content's first picture (it runs beside the
 * first encode, see library/media-library.ts) is not an encode: it goes straight through, unlogged.
 */
async function gatedTool(then: string): Promise<Gated> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-gated-'));
  const [script, log, gate] = ['tool.sh', 'runs.log', 'gate'].map((f) => path.join(dir, f)) as [string, string, string];
  await writeFile(
    script,
    `#!/bin/sh
case " $* " in *" -frames:v 1 "*"format=gray"*) ${then} ;; esac
echo "$(nice)" >> '${log}'
while [ "$(nice)" -gt 0 ] && [ ! -e '${gate}' ]; do sleep 0.05; done
${then}
`,
  );
  await chmod(script, 0o755);
  return {
    path: script,
    open: () => writeFile(gate, ''),
    runs: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number),
  };
}

/** Polls until `condition` holds; the test's own timeout is the only limit. */
async function until(condition: () => Promise<boolean> | boolean): Promise<void> {
  while (!(await condition())) await new Promise((r) => setTimeout(r, 50));
}

/** Whether this process may raise a niced process back to normal priority (CAP_SYS_NICE). */
async function mayRaiseNice(): Promise<boolean> {
  const child = spawn('nice', ['-n', '19', 'sleep', '30'], { stdio: 'ignore' });
  await new Promise((r) => child.once('spawn', r));
  try {
    os.setPriority(child.pid!, 0);
    return true;
  } catch {
    return false;
  } finally {
    child.kill('SIGKILL');
  }
}

const withEnv = async <T>(name: string, value: string, body: () => Promise<T>): Promise<T> => {
  const previous = process.env[name];
  process.env[name] = value;
  try {
    return await body();
  } finally {
    if (previous === undefined) delete process.env[name];
    else process.env[name] = previous;
  }
};

let media: string;
let privileged: boolean;
beforeAll(async () => {
  media = await mediaFolder({ 'clip.mp4': await testSource('browser360p') });
  privileged = await mayRaiseNice();
});

describe('ProcessLane', () => {
  it('starts a background lane\'s processes at nice 19; raise() brings them to 0, or pre-empts them where renice is refused', async () => {
    const tool = await gatedTool(`echo "$(nice)" >> "$(dirname "$0")/runs.log"`);
    await withEnv('JITSEG_FFMPEG', tool.path, async () => {
      const lane = new ProcessLane(true);
      const running = runInLane(lane, () => run('ffmpeg', []));
      await until(async () => (await tool.runs()).length === 1);
      expect(await tool.runs()).toEqual([19]);
      expect(lane.raise()).toBe(privileged ? 'raised' : 'preempted');
      if (privileged) {
        await running;
        expect(await tool.runs()).toEqual([19, 0]); // the same run, reniced: it passed the gate
      } else {
        await expect(running).rejects.toBeInstanceOf(PreemptedError);
      }
    });
  });

  it('lower() brings a normal lane\'s running processes to its background niceness (an encode every requester left)', async () => {
    const tool = await gatedTool(`while [ ! -e "$(dirname "$0")/go" ]; do sleep 0.05; done; echo "$(nice)" >> "$(dirname "$0")/runs.log"`);
    await withEnv('JITSEG_FFMPEG', tool.path, async () => {
      const lane = new ProcessLane(false);
      const running = runInLane(lane, () => run('ffmpeg', []));
      await until(async () => (await tool.runs()).length === 1);
      lane.lower();
      expect(lane.background).toBe(true);
      await writeFile(path.join(path.dirname(tool.path), 'go'), '');
      await running;
      expect(await tool.runs()).toEqual([0, 19]); // the same run, reniced while it waited
    });
  });

  it('runs a background lane at its configured niceness (encoder.prefetch_nice)', async () => {
    const tool = await gatedTool('exit 0');
    await tool.open();
    await withEnv('JITSEG_FFMPEG', tool.path, async () => {
      await runInLane(new ProcessLane(true, undefined, 10), () => run('ffmpeg', []));
      await runInLane(new ProcessLane(true, undefined, 0), () => run('ffmpeg', []));
      expect(await tool.runs()).toEqual([10, 0]);
    });
  });

  it('where renice is refused: kills the running processes, and a later process in the lane is not started', async () => {
    const tool = await gatedTool('exit 0');
    await withEnv('JITSEG_FFMPEG', tool.path, async () => {
      const refuse = () => {
        throw Object.assign(new Error('setpriority: permission denied'), { code: 'ERR_SYSTEM_ERROR', info: { code: 'EACCES' } });
      };
      const lane = new ProcessLane(true, refuse);
      const running = runInLane(lane, () => run('ffmpeg', []));
      await until(async () => (await tool.runs()).length === 1);
      expect(lane.raise()).toBe('preempted');
      await expect(running).rejects.toBeInstanceOf(PreemptedError);
      await expect(runInLane(lane, () => run('ffmpeg', []))).rejects.toBeInstanceOf(PreemptedError);
      expect(await tool.runs()).toEqual([19]);
    });
  });
});

describe('EncodeQueue slots', () => {
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    return { opened, open };
  };

  it('a request starts while prefetch fills every prefetch slot, and prefetch never takes a request slot', async () => {
    const queue = new EncodeQueue(1);
    const started: string[] = [];
    const holds = new Map<string, ReturnType<typeof gate>>();
    const submit = (key: string, priority: number) => {
      holds.set(key, gate());
      return queue.run(key, async (reason: TaskReason) => {
        started.push(`${key}:${reason}`);
        await holds.get(key)!.opened;
      }, { priority });
    };
    const p1 = submit('p1', PRIORITY.prefetch);
    const p2 = submit('p2', PRIORITY.prefetch);
    expect(started).toEqual(['p1:prefetch']); // p2 waits: the free request slot is not for prefetch
    const r1 = submit('r1', PRIORITY.request);
    expect(started).toEqual(['p1:prefetch', 'r1:request']); // at once, although prefetch is encoding
    for (const h of holds.values()) h.open();
    await Promise.all([p1, p2, r1]);
    expect(started).toEqual(['p1:prefetch', 'r1:request', 'p2:prefetch']);
  });

  it('a running prefetch that a player asks for, where renice is refused, is run again as a request', async () => {
    const tool = await gatedTool('exit 0');
    await withEnv('JITSEG_FFMPEG', tool.path, async () => {
      const refuse = () => {
        throw Object.assign(new Error('setpriority: operation not permitted'), { code: 'ERR_SYSTEM_ERROR', info: { code: 'EPERM' } });
      };
      const queue = new EncodeQueue(1, { maxWaiting: 10, maxWaitMs: Infinity }, (background) => new ProcessLane(background, refuse));
      const reasons: TaskReason[] = [];
      const done = queue.run('s2', async (reason) => {
        reasons.push(reason);
        await run('ffmpeg', []);
        return reason;
      }, { priority: PRIORITY.prefetch });
      await until(async () => (await tool.runs()).length === 1);
      queue.raise('s2', PRIORITY.request);
      expect(await done).toBe('request');
      expect(reasons).toEqual(['prefetch', 'request']);
      expect(await tool.runs()).toEqual([19, 0]);
      expect(queue.preempted).toBe(1);
    });
  });
});

async function register(url: string) {
  const registered = await (await fetch(`${url}/api/v1/content`, { method: 'POST', body: JSON.stringify({ path: 'clip.mp4' }) })).json();
  const info = await (await fetch(`${url}${registered.urls.info}`)).json();
  const rendition = info.renditions[0].id as string;
  return { hash: registered.hash as string, rendition, video: `${url}/api/v1/content/${registered.hash}/video/${rendition}` };
}

/** One worker, prefetch on, 2 s segments; a gated prefetch makes no progress, so it never counts as stalled. */
const ONE_WORKER = { segment_duration: 2, encoder: encoderWith({ workers: 1, stall_timeout_seconds: 600, hwaccel: 'none' }) };

describe('one origin, one worker', () => {
  it('a seek is answered while a prefetch encodes, before that prefetch and the ones the seek sets off; deeper prefetch runs at nice 19', async () => {
    const ffmpeg = await gatedTool('exec ffmpeg "$@"');
    await withEnv('JITSEG_FFMPEG', ffmpeg.path, async () => {
      const server = await testServer(media, ONE_WORKER);
      try {
        const { video } = await register(server.url);
        const order: string[] = [];
        const stop = server.events.subscribe((e) => e.type === 'SegmentReady' && order.push(`ready ${e.segment}`));
        const before = (await ffmpeg.runs()).length;
        const runs = async () => (await ffmpeg.runs()).slice(before);

        // The init (a start: segment 1's encode) sets off start-up prefetch: 2, next-up at normal priority (passes the
        // gate), then 3 at nice 19 (held at the gate). Segment 1 then queues 4 to 6, waiting for the prefetch slot.
        expect((await fetch(`${video}/init.mp4`)).status).toBe(200);
        expect((await fetch(`${video}/segment_1.m4s`)).status).toBe(200);
        await until(async () => (await runs()).includes(19));
        const seek = await fetch(`${video}/segment_20.m4s`);
        expect(seek.status).toBe(200);
        order.push('answered 20');
        expect(order).not.toContain('ready 3'); // still held at its gate: the seek did not wait for it

        await ffmpeg.open();
        await until(() => ['ready 3', 'ready 21', 'ready 22'].every((e) => order.includes(e)));
        stop();
        const at = (e: string) => order.indexOf(e);
        expect(at('ready 2')).toBeLessThan(at('answered 20'));
        expect(at('ready 20')).toBeLessThan(at('answered 20'));
        for (const prefetched of ['ready 3', 'ready 21', 'ready 22']) expect(at('answered 20')).toBeLessThan(at(prefetched));
        // 4 to 6 were still waiting for the prefetch slot when the player seeked away: dropped, never made.
        for (const dropped of ['ready 4', 'ready 5', 'ready 6']) expect(order).not.toContain(dropped);
        expect(metricValue(await scrape(server.url), 'jitseg_prefetch_dropped_total')).toBe(3);
        // Requests (1, 20), the init made after segment 1 (a few frames, transcode/init-span.ts) and next-up prefetch
        // (2, 21) at normal priority, deeper prefetch (3, 22) at nice 19.
        expect((await runs()).sort((a, b) => a - b)).toEqual([0, 0, 0, 0, 0, 19, 19]);
      } finally {
        await ffmpeg.open();
        await server.close();
      }
    });
  });

  it('a player asking for the segment being prefetched gets it at normal priority while prefetch is still held', async () => {
    const ffmpeg = await gatedTool('exec ffmpeg "$@"');
    await withEnv('JITSEG_FFMPEG', ffmpeg.path, async () => {
      const server = await testServer(media, ONE_WORKER);
      try {
        const { video } = await register(server.url);
        const ready: number[] = [];
        const stop = server.events.subscribe((e) => e.type === 'SegmentReady' && ready.push(e.segment));
        const before = (await ffmpeg.runs()).length;
        const runs = async () => (await ffmpeg.runs()).slice(before);

        // 2 (next-up after the start) is prefetched at normal priority, so passes the gate; 3 is prefetched at nice 19.
        expect((await fetch(`${video}/segment_1.m4s`)).status).toBe(200);
        await until(async () => (await runs()).includes(19)); // 3 is being prefetched
        expect((await fetch(`${video}/segment_2.m4s`)).status).toBe(200); // made already; 4 and on wait for the prefetch slot
        expect((await fetch(`${video}/segment_3.m4s`)).status).toBe(200); // the gate is still closed
        stop();
        expect(ready).toEqual([1, 2, 3]);
        const system = await (await fetch(`${server.url}/api/v1/system`)).json();
        // Reniced in place where allowed; otherwise killed and run again at nice 0.
        expect(system.queue.preempted).toBe(privileged ? 0 : 1);
        // 1, then its init (made after the segment asked first, transcode/init-span.ts), then 2 (next-up) at normal
        // priority; 3 at nice 19.
        expect((await runs()).slice(0, 4)).toEqual([0, 0, 0, 19]);
        if (!privileged) expect((await runs()).slice(4)).toContain(0);
      } finally {
        await ffmpeg.open();
        await server.close();
      }
    });
  });

  it('without the privilege to renice (no CAP_SYS_NICE), the prefetch is killed and run again as the request', async () => {
    const ffmpeg = await gatedTool('exec ffmpeg "$@"');
    const work = await mkdtemp(path.join(os.tmpdir(), 'jitseg-noprivilege-'));
    const config = path.join(work, 'config.yaml');
    await writeFile(config, 'streaming:\n  segment_duration: 2\n  encoder:\n    workers: 1\n    stall_timeout_seconds: 600\n    hwaccel: none\n    degrade: { enabled: false }\n');
    // As root, setpriv drops the capability from the bounding set: the kernel then refuses renice as for any user.
    const launcher = privileged ? ['setpriv', '--bounding-set', '-sys_nice', '--inh-caps', '-sys_nice'] : [];
    const instance = await startInstance(['--media', media, '--cache', path.join(work, 'cache'), '--config', config], { JITSEG_FFMPEG: ffmpeg.path }, launcher);
    try {
      const { video } = await register(instance.url);
      const before = (await ffmpeg.runs()).length;
      const runs = async () => (await ffmpeg.runs()).slice(before);
      expect((await fetch(`${video}/segment_1.m4s`)).status).toBe(200);
      await until(async () => (await runs()).includes(19));
      expect((await fetch(`${video}/segment_2.m4s`)).status).toBe(200);
      const response = await fetch(`${video}/segment_3.m4s`);
      expect(response.status).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
      // 1, its init and 2 (next-up) at normal priority, 3 started as prefetch, then 3 again as the request, at the
      // moment 4 takes the freed prefetch slot (held at the gate): those two start together, in either order.
      const all = await runs();
      expect(all.slice(0, 4)).toEqual([0, 0, 0, 19]);
      expect(all.slice(4)).toContain(0);
      const system = await (await fetch(`${instance.url}/api/v1/system`)).json();
      expect(system.queue.preempted).toBe(1);
    } finally {
      await ffmpeg.open();
      await killInstance(instance);
    }
  });
});

describe('an encode every player has left', () => {
  it('is demoted when its player hangs up: the player\'s next request is answered first, and it is still made and stored', async () => {
    // Once armed (after start-up and the probe, which run ffmpeg too), each run logs its niceness; the first, and
    // any at low priority, wait at a gate; the others run at once.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'jitseg-abandoned-'));
    const [script, log, gate, arm] = ['tool.sh', 'runs.log', 'gate', 'arm'].map((f) => path.join(dir, f)) as [string, string, string, string];
    await writeFile(
      script,
      `#!/bin/sh
case " $* " in *" -frames:v 1 "*"format=gray"*) exec ffmpeg "$@" ;; esac
[ -e '${arm}' ] || exec ffmpeg "$@"
first=$( [ -s '${log}' ] || echo yes )
echo "$(nice)" >> '${log}'
while { [ -n "$first" ] || [ "$(nice)" -gt 0 ]; } && [ ! -e '${gate}' ]; do sleep 0.05; done
exec ffmpeg "$@"
`,
    );
    await chmod(script, 0o755);
    const runs = async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    await withEnv('JITSEG_FFMPEG', script, async () => {
      const server = await testServer(media, { ...NO_PREFETCH, ...ONE_WORKER });
      try {
        const { video } = await register(server.url);
        const ready: number[] = [];
        const stop = server.events.subscribe((e) => e.type === 'SegmentReady' && ready.push(e.segment));
        await writeFile(arm, '');
        // A player asks for 5 (a request: a client not seen before asking past segment 1) and hangs up while it encodes.
        const hangUp = new AbortController();
        const abandoned = fetch(`${video}/segment_5.m4s`, { signal: hangUp.signal }).catch(() => 'hung up');
        await until(async () => (await runs()).length === 1);
        hangUp.abort();
        expect(await abandoned).toBe('hung up');
        // Its next request (6: linear, not a start) is answered while 5 is still held at the gate.
        expect((await fetch(`${video}/segment_6.m4s`)).status).toBe(200);
        expect(ready).toEqual([6]);
        await writeFile(gate, '');
        await until(() => ready.includes(5));
        stop();
        // 5 at normal priority (held), cut for 6; 6 and then the rendition's init (made after the first segment
        // asked, before 6 is answered) at normal priority; 5 again in a prefetch slot at nice 19 (the last ones may
        // start together: their order in the log is not fixed).
        expect((await runs()).sort((a, b) => a - b)).toEqual([0, 0, 0, 19]);
        const system = await (await fetch(`${server.url}/api/v1/system`)).json();
        expect(system.queue.preempted).toBe(1);
        const again = await fetch(`${video}/segment_5.m4s`);
        expect(again.status).toBe(200);
        expect(await runs()).toHaveLength(4); // stored: served without an encode
      } finally {
        await writeFile(gate, '');
        await server.close();
      }
    });
  });
});

describe('two origins on Redis, one worker each', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('a prefetch waiting for its worker holds no lease: a seek on the other instance is answered first; a player there raises the running one', async () => {
    const ffmpeg = await gatedTool('exec ffmpeg "$@"');
    await withEnv('JITSEG_FFMPEG', ffmpeg.path, async () => {
      const cluster = { redisUrl: redis.url, leaseMs: 2000 };
      const a: TestServer = await testServer(media, ONE_WORKER, cluster);
      const b: TestServer = await testServer(media, ONE_WORKER, cluster);
      const commands = new Redis(redis.url);
      try {
        const { hash, rendition, video } = await register(a.url);
        await register(b.url);
        const onB = `${b.url}/api/v1/content/${hash}/video/${rendition}`;
        const lease = (n: number) => commands.exists(`jitseg:lease:${hash}/video/${rendition}/segment_${n}.m4s`);
        const order: string[] = [];
        const stops = [a, b].map((s, i) =>
          // Encoded here (not fetched from the other, not relayed from it).
          s.events.subscribe((e) => {
            if (e.type === 'SegmentReady' && e.source === 'encoded' && e.instance === s.events.instance) order.push(`${'ab'[i]} ready ${e.segment}`);
          }),
        );
        const before = (await ffmpeg.runs()).length;

        // A player on A: segment 1, then A prefetches 2 (next-up: normal priority, through the gate) and 3 (at nice 19,
        // encoding under its lease, held at the gate); segment 2 then queues 4 and on (waiting for A's prefetch slot).
        expect((await fetch(`${video}/segment_1.m4s`)).status).toBe(200);
        await until(async () => (await ffmpeg.runs()).slice(before).includes(19));
        await until(async () => (await lease(3)) === 1);
        expect((await fetch(`${video}/segment_2.m4s`)).status).toBe(200);
        expect(await lease(4)).toBe(0);

        // A player on B seeks to 4: B takes the lease and encodes it, while A's prefetch of 3 is still held.
        expect((await fetch(`${onB}/segment_4.m4s`)).status).toBe(200);
        order.push('b answered 4');
        // A player on B asks for 3, which A is prefetching: B asks A to raise it, A makes it, B fetches it.
        const second = await fetch(`${onB}/segment_3.m4s`);
        expect(second.status).toBe(200);
        order.push('b answered 3');
        for (const stop of stops) stop();

        const at = (e: string) => order.indexOf(e);
        expect(at('b ready 4')).toBeLessThan(at('b answered 4'));
        expect(at('b answered 4')).toBeLessThan(at('a ready 3'));
        expect(at('a ready 3')).toBeLessThan(at('b answered 3'));
        expect(order).not.toContain('b ready 3'); // made once, by A
        expect(order).not.toContain('a ready 4'); // made once, by B
        const system = await (await fetch(`${a.url}/api/v1/system`)).json();
        expect(system.queue.preempted).toBe(privileged ? 0 : 1);
        expect(metricValue(await scrape(b.url), 'jitseg_peer_fetches_total')).toBeGreaterThanOrEqual(1);
      } finally {
        await ffmpeg.open();
        commands.disconnect();
        await Promise.all([a.close(), b.close()]);
      }
    });
  });
});
