import { appendFileSync, readFileSync } from 'node:fs';

/**
 * The Envoy double's record file (ENVOY_DOUBLE_RECORD): one JSON object per line, appended by every
 * double process that shares the file, so restart tests see all starts in order.
 */
interface Base {
  /** Epoch milliseconds. */
  t: number;
  pid: number;
}

export interface StartEvent extends Base {
  event: 'start';
  /** 1-based start number when ENVOY_DOUBLE_STATE_DIR is set, else null. */
  startNumber: number | null;
  version: string;
}
export interface ArgvEvent extends Base {
  event: 'argv';
  argv: string[];
}
export interface AdminEvent extends Base {
  event: 'admin';
  method: string;
  /** Path without the query, e.g. `/drain_listeners`. */
  path: string;
  /** Raw query without `?`, e.g. `inboundonly&graceful&skip_exit`; '' when none. */
  query: string;
  status: number;
}
export interface SignalEvent extends Base {
  event: 'signal';
  signal: string;
}
/** `--version`, `--help` or an argv error: the double printed and exited without starting. */
export interface EarlyExitEvent extends Base {
  event: 'early-exit';
  argv: string[];
  code: number;
}
export interface LiveEvent extends Base {
  event: 'live';
}
export interface ExitEvent extends Base {
  event: 'exit';
  /** Exit code, or null when the double kills itself with `signal`. */
  code: number | null;
  signal?: string;
  reason?: string;
}
export interface ConnectionsEvent extends Base {
  event: 'connections';
  /** Listener stat name part (e.g. `0.0.0.0_8080`), or `*` for all of them. */
  name: string;
  value: number;
}
export interface FloodEvent extends Base {
  event: 'flood';
  stream: 'stdout' | 'stderr';
  lines: number;
  bytes: number;
}
export interface AdsEvent extends Base {
  event: 'ads';
  /** Whatever ads-client.ts passed to its record callback. */
  ads: Record<string, unknown>;
}
export interface AdsErrorEvent extends Base {
  event: 'ads-error';
  message: string;
}

export type RecordEvent =
  | StartEvent
  | ArgvEvent
  | EarlyExitEvent
  | AdminEvent
  | SignalEvent
  | LiveEvent
  | ExitEvent
  | ConnectionsEvent
  | FloodEvent
  | AdsEvent
  | AdsErrorEvent;

export type RecordEventInput = RecordEvent extends infer E ? (E extends RecordEvent ? Omit<E, 't' | 'pid'> : never) : never;

/** Reads every event; a missing file reads as no events, a torn last line is skipped. */
export function readRecord(file: string): RecordEvent[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const events: RecordEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      events.push(JSON.parse(line) as RecordEvent);
    } catch {
      // a line still being written by a live double
    }
  }
  return events;
}

/** Events of one kind, typed. */
export function eventsOf<K extends RecordEvent['event']>(
  events: readonly RecordEvent[],
  kind: K,
): Extract<RecordEvent, { event: K }>[] {
  return events.filter((e): e is Extract<RecordEvent, { event: K }> => e.event === kind);
}

/** Appends one event; a single write of one line, so concurrent doubles do not interleave. */
export function appendRecord(file: string, event: RecordEventInput): void {
  appendFileSync(file, `${JSON.stringify({ t: Date.now(), pid: process.pid, ...event })}\n`);
}
