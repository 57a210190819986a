import type { ChildProcess } from 'node:child_process';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Completes the timeout message: `timed out after Xms waiting for <what>`. */
  what: string;
}

type Falsy = undefined | false | null | 0 | '';

/**
 * Polls `probe` until it returns (or resolves to) a truthy value and resolves with that value.
 * A probe that throws counts as "not yet"; its last error is appended to the timeout message so a
 * failing test says why the condition never held.
 */
export async function waitFor<T>(
  probe: () => T | Falsy | Promise<T | Falsy>,
  { timeoutMs, intervalMs = 20, what }: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as T;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause = lastError === undefined ? '' : ` (last error: ${(lastError as Error).message ?? String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when the child has exited (at once if it already has); rejects after `timeoutMs`. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<ExitStatus> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      reject(new Error(`timed out after ${timeoutMs}ms waiting for pid ${child.pid} to exit`));
    }, timeoutMs);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      resolve({ code, signal });
    };
    child.once('exit', onExit);
  });
}
