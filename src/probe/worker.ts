/** A probe worker thread: probes one file at a time for pool.ts. */
import { parentPort, workerData } from 'node:worker_threads';
import { warmMp4Probe, warmMp4ProbeWithFile } from './mp4/warm-up.js';
import { probeFileDeferred } from './probe-file.js';
import { errorReply, toWire, type ProbeReply, type ProbeRequest } from './wire.js';

const port = parentPort;
if (!port) throw new Error('worker.ts runs as a worker thread');

port.on('message', (request: ProbeRequest) => {
  if (request.hold) Atomics.wait(request.hold, 0, 1);
  // The first-frame decode check is the caller's to run (an ffmpeg process: nothing for this thread to do meanwhile).
  void probeFileDeferred(request.path, request.deadline).then(
    ({ probe, firstFrame }): ProbeReply => ({ id: request.id, ok: true, probe: toWire(probe), firstFrame }),
    (err: unknown) => errorReply(request.id, err),
  ).then((reply) => port.postMessage(reply));
});
// A worker started ahead of the first probe (pool.ts warm()) has the time to optimise its hot loops first;
// one started for a waiting probe does not.
if ((workerData as { warm?: boolean } | undefined)?.warm) {
  warmMp4Probe();
  // A failed file warm-up (e.g. no writable temporary directory) only leaves the first probe's file path cold.
  await warmMp4ProbeWithFile().catch(() => undefined);
}
// Loaded (for pool.ts warm()): not a reply, it carries no id.
port.postMessage({ loaded: true });
