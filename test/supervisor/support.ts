import { eventsOf, type RecordEvent } from '../doubles/envoy-record.js';

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
