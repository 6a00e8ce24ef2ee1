// Entry of a probe worker thread. Node 20 does not carry the main thread's
// TypeScript loader (tsx) into workers, so a worker started from the sources
// registers it before importing the real entry (worker.ts).
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
