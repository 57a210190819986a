import type { ChildProcess } from 'node:child_process';
import { eventsOf, type RecordEvent } from '../doubles/envoy-record.js';
import type { KumaDpProcess, SpawnOptions } from '../support/kuma-dp.js';
import type { RunFixture } from '../support/run-fixture.js';

const running = new Set<ChildProcess>();

/** fx.start, remembered so that a failed test leaves no kuma-dp (and so no Envoy) behind. */
export function start(fx: RunFixture, args: string[] = [], options: SpawnOptions & { env?: NodeJS.ProcessEnv } = {}): KumaDpProcess {
  const dp = fx.start(args, options);
  track(dp.child);
  return dp;
}

export function track<T extends ChildProcess>(child: T): T {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** For afterEach: SIGKILL whatever is still running; Envoy follows through its parent-death signal. */
export function killLeftovers(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** One line of kuma-dp's `--log-format json` output. */
export interface LogEntry {
  time: string;
  level: string;
  logger: string;
  message: string;
  [field: string]: unknown;
}

/** Every non-empty line parsed as JSON; a line that does not parse fails with the line itself. */
export function jsonLog(text: string): LogEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as LogEntry;
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
}

export function entries(text: string, message: string | RegExp): LogEntry[] {
  return jsonLog(text).filter((e) => (typeof message === 'string' ? e.message === message : message.test(e.message)));
}

export function lastLine(text: string): string {
  return text.trimEnd().split('\n').pop() ?? '';
}

/** `METHOD /path?query` of every admin call the double answered. */
export function adminCalls(record: readonly RecordEvent[]): string[] {
  return eventsOf(record, 'admin').map((e) => `${e.method} ${e.path}${e.query ? `?${e.query}` : ''}`);
}

export function signalsReceived(record: readonly RecordEvent[]): string[] {
  return eventsOf(record, 'signal').map((e) => e.signal);
}
