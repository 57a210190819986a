import { execFile, type ExecFileException } from 'node:child_process';
import type { Socket } from 'node:net';

export const VERSION_TIMEOUT_MS = 10_000;

export interface VersionOutput {
  error: ExecFileException | null;
  /** Killed for taking longer than timeoutMs. */
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/** A started `<binary> --version`; version.ts reads its output. */
export interface VersionRun {
  binary: string;
  timeoutMs: number;
  output: Promise<VersionOutput>;
  /** Keeps kuma-dp running until the output is in; until then, a run its flags end exits at once. */
  hold(): void;
  /** The `version:` line the same, unchanged binary printed the last time (the memo in src/cli/early-start.ts), if known. */
  recalled?: string | undefined;
}

/**
 * Starts `<binary> --version`. Apart from version.ts (and its semver) so that bin/kuma-dp's
 * launcher can start it for `run` before the CLI has loaded (src/cli/early-start.ts). One that
 * hangs is killed after timeoutMs, and one still running when kuma-dp exits is killed with it.
 */
export function startVersionRun(binary: string, timeoutMs = VERSION_TIMEOUT_MS, env: NodeJS.ProcessEnv = process.env): VersionRun {
  const handles: ({ ref(): unknown; unref(): unknown } | null)[] = [];
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const output = new Promise<VersionOutput>((resolve) => {
    // execFile's own timeout would hold kuma-dp open; this one is let go with the rest.
    const child = execFile(binary, ['--version'], { maxBuffer: 1 << 20, env }, (error, stdout, stderr) => {
      clearTimeout(timer);
      process.off('exit', killAtExit);
      resolve({ error, timedOut, stdout, stderr });
    });
    timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    handles.push(child, child.stdout as Socket | null, child.stderr as Socket | null, timer);
    const killAtExit = () => child.kill('SIGKILL');
    process.once('exit', killAtExit);
  });
  for (const handle of handles) handle?.unref();
  return { binary, timeoutMs, output, hold: () => handles.forEach((handle) => handle?.ref()) };
}
