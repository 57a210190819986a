import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { EnvoyEnd } from '../supervisor/restart-policy.js';

export interface EnvoyProcess {
  pid: number;
  stdout: Readable;
  stderr: Readable;
  /** Settles once Envoy has exited and its output pipes are closed. */
  ended: Promise<EnvoyEnd>;
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
 * Starts Envoy in a session of its own (setsid), so a terminal's Ctrl-C or `kill -- -PGID` on our
 * group reaches only kuma-dp, which drains first (supervisors.md §0 item 1). Spawned with
 * node:child_process rather than execa: see the README's performance notes (execa's import cost
 * sits on the start-to-exec path and adds nothing this one long-lived child needs).
 */
export function launchEnvoy(spec: LaunchSpec): Promise<EnvoyProcess> {
  const [file, ...rest] = [...spec.prefix, spec.binary, ...spec.args];
  const child = spawn(file!, rest, {
    cwd: spec.cwd,
    env: spec.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('spawn', () => {
      child.removeListener('error', reject);
      const ended = new Promise<EnvoyEnd>((resolveEnd) => {
        child.once('close', (code, signal) => resolveEnd({ code, signal }));
      });
      resolve({
        pid: child.pid!,
        stdout: child.stdout!,
        stderr: child.stderr!,
        ended,
        signal(signal) {
          try {
            child.kill(signal);
          } catch {
            // Already gone: the 'close' event tells the rest.
          }
        },
      });
    });
  });
}
