import { parentPort } from 'node:worker_threads';
import { validateBootstrap, warmUpSchema } from './validate.js';

/** Runs in a worker thread (see background.ts): loads the schema at once, then validates on request. */
warmUpSchema();
parentPort!.on('message', (request: { id: number; document: unknown; source: string }) => {
  parentPort!.postMessage({ id: request.id, verdict: validateBootstrap(request.document, { source: request.source }) });
});
