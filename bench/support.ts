import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENVOY_DOUBLE_SCRIPT, shellQuote } from '../test/doubles/envoy-binary.js';
import { startKumaCpDouble, type KumaCpDouble } from '../test/doubles/kuma-cp-double.js';
import { KUMA_DP_BIN, baseEnv, freePort } from '../test/support/kuma-dp.js';
import { DATAPLANE_TEMPLATE, TOKEN } from '../test/support/run-fixture.js';
import { makeTempDir } from '../test/support/tmp.js';
import { waitFor } from '../test/support/wait.js';
import type { Figure } from './stats.js';
import { writeExecutable } from '../test/support/executable.js';

export interface BenchContext {
  /** Measured runs per figure (warm-up runs come on top). */
  runs: number;
  /** Prints a progress line (indented under the benchmark's title). */
  log(line: string): void;
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

/** Wall-clock milliseconds with sub-millisecond resolution (comparable with Date.now()). */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The Envoy double behind a bash wrapper that first appends `<epoch seconds.micros> <pid> <argv1>`
 * to $BENCH_MARK_FILE (when set): the moment Envoy is exec'd, before the double's own node
 * start-up, which is not kuma-dp's cost. exec keeps the pid, so marks match record events.
 */
export function writeMarkedEnvoy(dir: string): string {
  return writeExecutable(
    join(dir, 'envoy'),
    [
      '#!/bin/bash',
      `[ -n "$BENCH_MARK_FILE" ] && printf '%s %s %s\\n' "$EPOCHREALTIME" "$$" "\${1:-}" >> "$BENCH_MARK_FILE"`,
      `exec ${shellQuote(process.execPath)} ${shellQuote(ENVOY_DOUBLE_SCRIPT)} "$@"`,
      '',
    ].join('\n'),
  );
}

export interface Mark {
  t: number;
  pid: number;
  arg: string;
}

export function readMarks(file: string): Mark[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [t, pid, arg = ''] = line.split(' ');
      return { t: Number(t) * 1000, pid: Number(pid), arg };
    });
}

/** Exec marks of real Envoy starts (not the `--version` probes). */
export const startMarks = (file: string): Mark[] => readMarks(file).filter((m) => m.arg !== '--version');

export interface DpProcess {
  child: ChildProcess;
  pid: number;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();

/** Spawns a process the benchmark cleans up if it fails half-way (see killLeftovers). */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGKILLs every process spawned by the benchmarks that is still running. */
export function killLeftovers(): void {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
  children.clear();
}

/** Runs bin/kuma-dp; stdout goes where asked, stderr is kept for the report. */
export function spawnKumaDp(args: string[], env: NodeJS.ProcessEnv, stdout: 'ignore' | 'pipe' | number = 'ignore'): DpProcess {
  const stdio: StdioOptions = ['ignore', stdout, 'pipe'];
  const child = track(spawn(process.execPath, [KUMA_DP_BIN, ...args], { env, stdio }));
  let err = '';
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, pid: child.pid!, stderr: () => err, exited };
}

/** Wall time of a command from spawn to exit, output discarded; throws on a non-zero exit. */
export function timeCommand(file: string, args: string[], env: NodeJS.ProcessEnv = baseEnv()): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = now();
    const child = track(spawn(file, args, { env, stdio: 'ignore' }));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const elapsed = now() - started;
      if (code === 0) resolve(elapsed);
      else reject(new Error(`${file} ${args.join(' ')} exited with ${code ?? signal}`));
    });
  });
}

/** Waits for a process to exit, or fails with its stderr. */
export async function expectExit(dp: DpProcess, timeoutMs: number, what: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      dp.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: kuma-dp did not exit within ${timeoutMs} ms; stderr:\n${dp.stderr()}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stops a kuma-dp with SIGTERM and checks that it exits 0. */
export async function stopKumaDp(dp: DpProcess, what: string): Promise<void> {
  dp.child.kill('SIGTERM');
  const status = await expectExit(dp, 20_000, what);
  if (status.code !== 0) throw new Error(`${what}: kuma-dp exited with ${status.code ?? status.signal}; stderr:\n${dp.stderr()}`);
}

function statusField(pid: number, file: string, field: string): number {
  const text = readFileSync(`/proc/${pid}/${file}`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  if (!match) throw new Error(`no ${field} in /proc/${pid}/${file}`);
  return Number(match[1]) / 1024;
}

/** Resident set size in MB (VmRSS: includes pages shared with other node processes). */
export const rssMb = (pid: number): number => statusField(pid, 'status', 'VmRSS');

/** Proportional set size in MB: shared pages divided among their users, the honest per-instance cost. */
export const pssMb = (pid: number): number => statusField(pid, 'smaps_rollup', 'Pss');

/** RSS of an idle bare node process: the runtime's own floor. */
export async function bareNodeRss(): Promise<number> {
  const child = track(spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000); process.stdout.write("up\\n")'], { stdio: ['ignore', 'pipe', 'ignore'] }));
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  await sleep(300);
  const rss = rssMb(child.pid!);
  child.kill('SIGKILL');
  return rss;
}

/**
 * One kuma-cp double, a dataplane template and token, and the marked Envoy double: what every
 * `kuma-dp run` of a benchmark needs. Each run gets its own work dir and readiness port.
 */
export class Rig {
  private counter = 0;

  private constructor(
    readonly dir: string,
    readonly cp: KumaCpDouble,
    readonly envoyPath: string,
    private readonly templatePath: string,
    private readonly tokenPath: string,
  ) {}

  static async start(name: string): Promise<Rig> {
    const dir = makeTempDir(`kuma-dp-bench-${name}`);
    const templatePath = join(dir, 'dataplane.yaml');
    writeFileSync(templatePath, DATAPLANE_TEMPLATE);
    const tokenPath = join(dir, 'token');
    writeFileSync(tokenPath, `${TOKEN}\n`, { mode: 0o600 });
    const envoyPath = writeMarkedEnvoy(dir);
    return new Rig(dir, await startKumaCpDouble(), envoyPath, templatePath, tokenPath);
  }

  /** A fresh directory for one run (work dir, record and mark files live in it). */
  runDir(label: string): string {
    const dir = join(this.dir, `${label}-${++this.counter}`);
    mkdirSync(dir);
    return dir;
  }

  /** `run` args against the cp double with the marked Envoy; `extra` comes last and wins. */
  args(workDir: string, extra: string[] = []): string[] {
    return [
      'run',
      '--cp-address', this.cp.url,
      '--dataplane-file', this.templatePath,
      '-v', 'name=web-1',
      '-v', 'address=127.0.0.1',
      '--dataplane-token-file', this.tokenPath,
      '--binary-path', this.envoyPath,
      '--work-dir', workDir,
      '--drain-time', '2s',
      '--min-drain-time', '0s',
      '--envoy-restart', 'never',
      ...extra,
    ];
  }

  async env(extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
    return baseEnv({
      KUMA_READINESS_PORT: String(await freePort()),
      KUMA_CONTROL_PLANE_RETRY_BACKOFF: '50ms',
      KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '10s',
      ...extra,
    });
  }

  close(): Promise<void> {
    return this.cp.close();
  }
}

/** Polls until `probe` holds; the timeout error names `what`. */
type Falsy = undefined | false | null | 0 | '';

export function until<T>(probe: () => T | Falsy | Promise<T | Falsy>, what: string, timeoutMs = 20_000, intervalMs = 2): Promise<T> {
  return waitFor(probe, { timeoutMs, intervalMs, what });
}

/** As until, with kuma-dp's stderr in the error when it times out. */
export async function untilDp<T>(dp: DpProcess, probe: () => T | Falsy | Promise<T | Falsy>, what: string, timeoutMs = 20_000, intervalMs?: number): Promise<T> {
  try {
    return await until(probe, what, timeoutMs, intervalMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; kuma-dp stderr:\n${dp.stderr()}`);
  }
}
