/** A probe worker thread: probes one file at a time for pool.ts. */
import { parentPort } from 'node:worker_threads';
import { probeFile } from './probe-file.js';
import { errorReply, toWire, type ProbeReply, type ProbeRequest } from './wire.js';

const port = parentPort;
if (!port) throw new Error('worker.ts runs as a worker thread');

port.on('message', (request: ProbeRequest) => {
  if (request.hold) Atomics.wait(request.hold, 0, 1);
  void probeFile(request.path, { deadline: request.deadline }).then(
    (probe): ProbeReply => ({ id: request.id, ok: true, probe: toWire(probe) }),
    (err: unknown) => errorReply(request.id, err),
  ).then((reply) => port.postMessage(reply));
});
