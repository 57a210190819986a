import { Worker } from 'node:worker_threads';
import type { BootstrapValidation } from './validate.js';

/**
 * Schema validation on a second thread. Loading Envoy's schema is CPU work (~200 ms here);
 * started first thing, it runs on the other core while the main thread renders the template,
 * waits for `envoy --version` and for the control plane, instead of delaying all of them.
 */
export class BackgroundValidator {
  private readonly worker: Worker;
  private readonly pending = new Map<number, (verdict: BootstrapValidation) => void>();
  private nextId = 0;
  private failure: Error | undefined;

  constructor() {
    // In the start-up bundle the worker is an entry point of its own next to the chunks.
    const here = import.meta.url;
    const file = here.includes('/dist/bundle/') ? './schema-worker.js' : './validator-worker.js';
    // Not unref'd: a pending validation must keep the process alive. Every owner calls close().
    this.worker = new Worker(new URL(file, here));
    this.worker.on('message', ({ id, verdict }: { id: number; verdict: BootstrapValidation }) => {
      this.pending.get(id)?.(verdict);
      this.pending.delete(id);
    });
    this.worker.on('error', (err) => {
      this.failure = err;
      for (const resolve of this.pending.values()) resolve(this.failed(err));
      this.pending.clear();
    });
  }

  validate(document: unknown, source: string): Promise<BootstrapValidation> {
    if (this.failure) return Promise.resolve(this.failed(this.failure));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ id, document, source });
    });
  }

  close(): void {
    void this.worker.terminate();
  }

  private failed(err: Error): BootstrapValidation {
    const problem = { path: '(schema)', message: `the schema check itself failed: ${err.message}` };
    return { ok: false, problems: [problem], summary: `${problem.path}: ${problem.message}` };
  }
}
