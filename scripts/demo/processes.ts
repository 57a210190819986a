/** The demo's child processes: finding Envoy, running kuma-dp, and finding the Envoy it started. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
export { isAlive } from '../../src/platform/pidfile.js';

const run = promisify(execFile);

/** Whatever `kuma-dp envoy which` would start: `envoy` on PATH first, then managed installs. */
export async function findRealEnvoy(kumaDpBin: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  try {
    const { stdout } = await run(process.execPath, [kumaDpBin, 'envoy', 'which'], { timeout: 10_000, env });
    const path = stdout.trim().split('\n').at(-1);
    return path || undefined;
  } catch {
    return undefined;
  }
}

export interface KumaDpProcess {
  child: ChildProcess;
  /** The last lines kuma-dp and Envoy printed, shown when a step fails. */
  tail(): string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const TAIL_LINES = 40;

export function startKumaDp(kumaDpBin: string, args: string[], env: NodeJS.ProcessEnv, echo?: (line: string) => void): KumaDpProcess {
  // Its own process group: a Ctrl-C in the terminal reaches only the demo, which then drains kuma-dp on purpose.
  const child = spawn(process.execPath, [kumaDpBin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines: string[] = [];
  const collect = (source: string) => {
    let partial = '';
    return (chunk: Buffer): void => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(`${source} | ${line}`);
        echo?.(`${source} | ${line}`);
      }
      lines.splice(0, Math.max(0, lines.length - TAIL_LINES));
    };
  };
  child.stdout!.on('data', collect('envoy  '));
  child.stderr!.on('data', collect('kuma-dp'));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, tail: () => [...lines], exited };
}

/**
 * The pid of the Envoy a kuma-dp process is running: its child started with a config path (the
 * short-lived `envoy --version` children are not it). `ps` works the same on Linux and macOS.
 */
export async function findEnvoyPid(kumaDpPid: number): Promise<number | undefined> {
  const { stdout } = await run('ps', ['-A', '-o', 'pid=,ppid=,args=']);
  for (const line of stdout.split('\n')) {
    const match = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (match && Number(match[2]) === kumaDpPid && /(^|\s)(--config-path|-c)(\s|=)/.test(match[3]!)) return Number(match[1]);
  }
  return undefined;
}

