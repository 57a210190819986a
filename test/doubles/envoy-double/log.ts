import { appendFileSync } from 'node:fs';
import type { LogLevel } from './argv.js';

const RANK: Record<LogLevel, number> = {
  trace: 0, debug: 1, info: 2, warning: 3, warn: 3, error: 4, critical: 5, off: 6,
};

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** spdlog's `%Y-%m-%d %T.%e` in local time. */
export function timestamp(d = new Date()): string {
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** Envoy's default format `[%Y-%m-%d %T.%e][%t][%l][%n] [%g:%#] %v`; the thread id is our pid. */
export class EnvoyLog {
  constructor(
    private level: LogLevel,
    private readonly logPath: string | undefined,
  ) {}

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  log(level: Exclude<LogLevel, 'off' | 'warn'>, component: string, source: string, message: string): void {
    if (this.level === 'off' || RANK[level] < RANK[this.level]) return;
    const line = `[${timestamp()}][${process.pid}][${level}][${component}] [${source}] ${message}\n`;
    // Appending per line means a SIGUSR1 "reopen" needs no work: a rotated file is recreated.
    if (this.logPath) appendFileSync(this.logPath, line);
    else process.stderr.write(line);
  }

  info(message: string, source = 'source/server/server.cc:475'): void {
    this.log('info', 'main', source, message);
  }
}
