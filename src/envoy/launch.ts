import type { Readable } from 'node:stream';
import type { EnvoyEnd } from '../supervisor/restart-policy.js';
import { processGroupGone } from '../platform/process-group.js';

export interface EnvoyProcess {
  pid: number;
  stdout: Readable;
  stderr: Readable;
  /** Settles once Envoy has exited and its output pipes are closed (or stayed open too long). */
  ended: Promise<EnvoyEnd>;
  /** Signals Envoy's whole process group, so a wrapper script that does not exec still stops. */
  signal(signal: NodeJS.Signals): void;
}

export interface LaunchSpec {
  binary: string;
  args: string[];
  /** e.g. `setpriv --pdeathsig SIGKILL --`; it execs Envoy, so the pid is Envoy's. */
  prefix: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/**
 * Once Envoy's process group is gone nothing writes to its pipes any more, but the relay may still
 * be reading behind a slow stdout; past this bound a stuck consumer must not stall supervision.
 */
const PIPE_DRAIN_LIMIT_MS = 10_000;

let execaModule: Promise<typeof import('execa')> | undefined;

/**
 * execa, loaded once. Not at start-up: `run` needs it only once the bootstrap is in hand, and every
 * other command never. `run` starts loading it (~6 ms) while the control plane works on the
 * bootstrap request, when kuma-dp would otherwise only wait.
 */
export function loadExeca(): Promise<typeof import('execa')> {
  execaModule ??= import('execa');
  return execaModule;
}

/**
 * Starts Envoy in a session of its own (setsid), so a terminal's Ctrl-C or `kill -- -PGID` on our
 * group reaches only kuma-dp, which drains first (supervisors.md §0 item 1). Envoy leads its own
 * process group, which is what signal() targets.
 */
export async function launchEnvoy(spec: LaunchSpec): Promise<EnvoyProcess> {
  const { execa } = await loadExeca();
  const [file, ...rest] = [...spec.prefix, spec.binary, ...spec.args];
  const child = execa(file!, rest, {
    cwd: spec.cwd,
    env: spec.env,
    extendEnv: false,
    detached: true,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    // We stop Envoy ourselves, draining first; execa's exit hook would SIGTERM it undrained.
    cleanup: false,
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
    // Some spawn failures (ELOOP, E2BIG, ...) reach execa synchronously and only show in its result.
    void child.then((result) => {
      if (child.pid === undefined) reject(new Error(result.shortMessage ?? `cannot start ${file}`));
    });
  });
  const pid = child.pid!;
  const ended = new Promise<EnvoyEnd>((resolve) => {
    child.once('exit', (code, signal) => {
      // With a wrapper that does not exec, its exit is not Envoy's: wait for the whole group.
      void processGroupGone(pid).then(async () => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([child.then(() => undefined), new Promise((done) => (timer = setTimeout(done, PIPE_DRAIN_LIMIT_MS)))]);
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
  });
  return {
    pid,
    stdout: child.stdout!,
    stderr: child.stderr!,
    ended,
    signal(signal) {
      try {
        process.kill(-pid, signal);
      } catch {
        // The group is gone: the exit event tells the rest.
      }
    },
  };
}

