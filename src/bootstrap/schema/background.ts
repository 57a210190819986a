import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KumaDpError } from '../../errors.js';
import type { BootstrapValidation } from './validate.js';

/** The last bytes of the check's stderr kept for the error message if it dies. */
const STDERR_TAIL_BYTES = 2048;

interface CheckRequest {
  id: number;
  document: unknown;
  source: string;
}

/** The snapshot scripts/bundle.ts builds next to the bundle, usable by the node that built it only. */
export function schemaCheckSnapshotName(nodeVersion = process.version, arch = process.arch): string {
  return `schema-check-${nodeVersion}-${arch}.blob`;
}

/**
 * How the check process starts. From the bundle, out of its startup snapshot when there is one for
 * this node: the schema is then already loaded and warmed up, which saves two thirds of the
 * check's start-up CPU, CPU that kuma-dp and `envoy --version` need at the same moment.
 */
export function checkProcessLaunch(moduleUrl: string, exists: (path: string) => boolean = existsSync): { modulePath: string; execArgv: string[] } {
  if (!moduleUrl.includes('/dist/bundle/')) return { modulePath: fileURLToPath(new URL('./check-process.js', moduleUrl)), execArgv: [] };
  const snapshot = fileURLToPath(new URL(schemaCheckSnapshotName(), moduleUrl));
  return { modulePath: fileURLToPath(new URL('./schema-check.cjs', moduleUrl)), execArgv: exists(snapshot) ? ['--snapshot-blob', snapshot] : [] };
}

/**
 * Schema validation in a short-lived helper process. Loading Envoy's schema is CPU work (~200 ms
 * here); started first thing, it runs on the other core while kuma-dp renders the template,
 * waits for `envoy --version` and for the control plane, instead of delaying all of them. A
 * process rather than a worker thread: when it exits, all of its memory goes back to the OS,
 * whereas a worker leaves its malloc arena (~3.5 MB) in kuma-dp for as long as Envoy runs.
 */
export class BackgroundValidator {
  private child: ChildProcess;
  private readonly pending = new Map<number, { request: CheckRequest; resolve: (verdict: BootstrapValidation) => void; reject: (err: KumaDpError) => void }>();
  private nextId = 0;
  private failure: Error | undefined;
  private answered = false;

  /** `launch`: how to start the check; checkProcessLaunch's answer unless a test says otherwise. */
  constructor(launch: { modulePath: string; execArgv: string[] } = checkProcessLaunch(import.meta.url)) {
    this.child = this.start(launch);
  }

  private start(launch: { modulePath: string; execArgv: string[] }): ChildProcess {
    const child = fork(launch.modulePath, [], {
      // Not kuma-dp's own node flags (an --inspect port, --cpu-prof), from argv or NODE_OPTIONS:
      // the check is a plain helper.
      execArgv: launch.execArgv,
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    let stderrTail = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      stderrTail = (stderrTail + text).slice(-STDERR_TAIL_BYTES);
    });
    child.on('message', ({ id, verdict }: { id: number; verdict: BootstrapValidation }) => {
      this.answered = true;
      this.pending.get(id)?.resolve(verdict);
      this.pending.delete(id);
    });
    child.on('error', (err) => {
      if (child === this.child) this.fail(err);
    });
    // 'close', not 'exit': by then its stderr has been read to the end.
    child.on('close', (code, signal) => {
      if (child !== this.child) return;
      const fromSnapshot = launch.execArgv.length > 0;
      // A snapshot this node refuses (exit 14: another build of the same version, the bundle
      // copied elsewhere) or cannot load (a damaged file dies by SIGSEGV or SIGABRT): the script
      // does the same work, only slower. The check ignores the terminal's signals, so SIGKILL is
      // the one that comes from outside, and that is a failure.
      const refused = code === null ? signal !== 'SIGKILL' : code !== 0;
      if (fromSnapshot && refused && !this.answered && this.failure === undefined) {
        this.child = this.start({ modulePath: launch.modulePath, execArgv: [] });
        for (const { request } of this.pending.values()) this.send(request);
        return;
      }
      const lastLine = stderrTail.trim().split('\n').pop();
      this.fail(new Error(`it exited (${signal ?? `code ${code}`})${lastLine ? `: ${lastLine}` : ''}`));
    });
    return child;
  }

  /**
   * A channel that breaks is always followed by the child's 'close', which resends to a new check
   * or fails every pending request saying how it ended: a failed delivery is left to it.
   */
  private send(request: CheckRequest): void {
    if (!this.child.connected) return;
    this.child.send(request, () => {});
  }

  /**
   * The verdict on the document; rejects (exit 1, our failure, not the document's) when the check
   * itself cannot run: a bootstrap is never passed unchecked.
   */
  validate(document: unknown, source: string): Promise<BootstrapValidation> {
    if (this.failure) return Promise.reject(this.failed(this.failure));
    const id = this.nextId++;
    const request = { id, document, source };
    return new Promise((resolve, reject) => {
      try {
        this.send(request);
      } catch (err) {
        // Serialising happens here, synchronously: a document nested deeper than the stack allows
        // cannot be sent, nor loaded by Envoy. It is the document's problem, not the check's.
        const problem = { path: '(root)', message: `nested too deeply to check (${(err as Error).message})` };
        resolve({ ok: false, problems: [problem], summary: `${source}: ${problem.path}: ${problem.message}` });
        return;
      }
      this.pending.set(id, { request, resolve, reject });
    });
  }

  /** Lets the check go; it exits by itself once the channel closes, and kuma-dp never waits for it. */
  close(): void {
    this.failure ??= new Error('it was closed');
    if (this.child.connected) this.child.disconnect();
    this.child.stderr!.destroy();
    this.child.unref();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const { reject } of this.pending.values()) reject(this.failed(this.failure));
    this.pending.clear();
  }

  private failed(err: Error): KumaDpError {
    return new KumaDpError(`the bootstrap schema check could not run: ${err.message}`, {
      hint: 'a kuma-dp problem, not one of the bootstrap; check memory and process limits, and report it if it persists',
    });
  }
}
