import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitFor, type ExitStatus } from './wait.js';

/** bin/kuma-dp of this checkout: tests run the real CLI as a separate process. */
export const KUMA_DP_BIN = fileURLToPath(new URL('../../../bin/kuma-dp', import.meta.url));

export interface KumaDpProcess {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<ExitStatus>;
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  waitForExit(timeoutMs?: number): Promise<ExitStatus>;
  signal(signal: NodeJS.Signals): void;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  stdin?: string;
  /** Own process group, so a test can signal the whole group like a terminal's Ctrl-C. */
  detached?: boolean;
  /** Another package's bin/kuma-dp (support/package-copy.ts); the checkout's by default. */
  bin?: string;
}

/** Only what a test sets, plus PATH and HOME: a developer's KUMA_* variables must not leak in. */
export function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR, ...extra };
}

/** Every kuma-dp a test started and that may still run; the root hook kills what a test left behind. */
const running = new Set<ChildProcess>();

export function killLeftoverKumaDps(): number {
  let killed = 0;
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGKILL reaches Envoy too, through its parent-death signal.
      child.kill('SIGKILL');
      killed += 1;
    }
  }
  running.clear();
  return killed;
}

export function spawnKumaDp(args: string[], options: SpawnOptions = {}): KumaDpProcess {
  const child = spawn(process.execPath, [options.bin ?? KUMA_DP_BIN, ...args], {
    env: options.env ?? baseEnv(),
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  else child.stdin!.end();
  running.add(child);
  child.once('exit', () => running.delete(child));
  const exited = new Promise<ExitStatus>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStderr: (pattern, timeoutMs = 10_000) => waitFor(() => err.match(pattern), { timeoutMs, what: `stderr to match ${pattern}; stderr so far:\n${err}` }),
    waitForExit: async (timeoutMs = 15_000) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          exited,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              child.kill('SIGKILL');
              reject(new Error(`kuma-dp did not exit within ${timeoutMs}ms (killed it); stderr:\n${err}`));
            }, timeoutMs);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    signal: (signal) => {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    },
  };
}

/** Runs kuma-dp to completion. */
export async function runKumaDp(args: string[], options: SpawnOptions & { timeoutMs?: number } = {}) {
  const proc = spawnKumaDp(args, options);
  const status = await proc.waitForExit(options.timeoutMs ?? 15_000);
  return { ...status, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** A port that was free a moment ago (for the readiness reporter, which needs a fixed one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function getReady(port: number): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/ready`);
  return { status: response.status, body: (await response.text()).trim() };
}

/** Gone, or a zombie waiting for a slow reaper: either way it no longer runs. */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

/** Runs `check` while something else listens on the port, and lets the port go after. */
export async function withTakenPort(port: number, check: () => Promise<void>): Promise<void> {
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  try {
    await check();
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
}
