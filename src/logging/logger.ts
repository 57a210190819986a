import { openSync, writeSync } from 'node:fs';
import type { ChalkInstance } from 'chalk';

export type LogLevel = 'off' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';
export type Severity = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export const LOG_LEVELS: readonly LogLevel[] = ['off', 'info', 'debug'];
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Our own log lines go here; a path from --log-output-path, else stderr. */
  outputPath?: string | undefined;
  /** ANSI colours for text lines (loadColors()); without them, plain text. */
  colors?: ChalkInstance | undefined;
  now?: () => Date;
}

interface Sink {
  write(line: string): void;
}

const PLAIN_LEVELS: Record<Severity, string> = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' };

const SEVERITY_RANK: Record<Severity, number> = { debug: 0, info: 1, warn: 2, error: 3 };

let stderrErrorsIgnored = false;

function stderrSink(): Sink {
  // A stderr whose reader went away (EPIPE: a closed pipe, a restarted journald) reports it as an
  // 'error' event, which would crash the supervisor; the lost log lines are the only loss.
  if (!stderrErrorsIgnored) {
    stderrErrorsIgnored = true;
    process.stderr.on('error', () => {});
  }
  return {
    write(line) {
      try {
        // Synchronous on Linux for files, pipes and TTYs, so a line is never torn or lost at exit.
        process.stderr.write(line);
      } catch {
        // A closed stderr must not take supervision down with it.
      }
    },
  };
}

function fileSink(path: string): Sink {
  const fd = openSync(path, 'a', 0o640);
  return {
    write(line) {
      try {
        writeSync(fd, line);
      } catch {
        // Disk full: keep supervising, the log line is the only loss.
      }
    },
  };
}

/**
 * chalk, loaded only for a terminal that wants colours: evaluating it costs every start ~1.5 ms,
 * and under systemd, in a container or in a pod, stderr is no terminal.
 */
export async function loadColors(): Promise<ChalkInstance> {
  const { Chalk } = await import('chalk');
  return new Chalk({ level: 1 });
}

export function colorWanted(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

function renderValue(value: unknown): string {
  if (typeof value === 'string') return /[\s"=]/.test(value) || value === '' ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  if (value === undefined) return 'undefined';
  return JSON.stringify(value) ?? String(value);
}

/**
 * kuma-dp's own logger: `time level logger message key=value...` in text,
 * one JSON object a line in json. Named children share one sink so lines never interleave.
 */
export class Logger {
  private readonly threshold: number;

  private constructor(
    private readonly options: LoggerOptions,
    private readonly sink: Sink,
    readonly name: string,
  ) {
    this.threshold = options.level === 'off' ? Infinity : options.level === 'debug' ? 0 : 1;
  }

  static create(options: LoggerOptions, name = 'kuma-dp'): Logger {
    const sink = options.level === 'off' ? { write() {} } : options.outputPath ? fileSink(options.outputPath) : stderrSink();
    return new Logger(options, sink, name);
  }

  /** A logger that writes nothing, for library use and tests. */
  static silent(): Logger {
    return new Logger({ level: 'off', format: 'text' }, { write() {} }, 'kuma-dp');
  }

  child(name: string): Logger {
    return new Logger(this.options, this.sink, `${this.name}.${name}`);
  }

  get level(): LogLevel {
    return this.options.level;
  }

  get format(): LogFormat {
    return this.options.format;
  }

  debug(message: string, fields?: Fields): void {
    this.log('debug', message, fields);
  }

  info(message: string, fields?: Fields): void {
    this.log('info', message, fields);
  }

  warn(message: string, fields?: Fields): void {
    this.log('warn', message, fields);
  }

  error(message: string, fields?: Fields): void {
    this.log('error', message, fields);
  }

  log(severity: Severity, message: string, fields: Fields = {}): void {
    if (SEVERITY_RANK[severity] < this.threshold) return;
    this.sink.write(this.render(severity, message, fields));
  }

  render(severity: Severity, message: string, fields: Fields = {}): string {
    const time = (this.options.now ?? (() => new Date()))().toISOString();
    if (this.options.format === 'json') {
      const record: Fields = { time, level: severity, logger: this.name, message };
      for (const [key, value] of Object.entries(fields)) {
        record[key] = value instanceof Error ? value.message : value;
      }
      return `${JSON.stringify(record)}\n`;
    }
    const c = this.options.colors;
    const level = c ? { debug: c.gray('DEBUG'), info: c.cyan('INFO'), warn: c.yellow('WARN'), error: c.red('ERROR') }[severity] : PLAIN_LEVELS[severity];
    const kv = Object.entries(fields)
      .map(([key, value]) => `${c ? c.dim(`${key}=`) : `${key}=`}${renderValue(value)}`)
      .join(' ');
    return `${time}\t${level}\t${this.name}\t${message}${kv ? `\t${kv}` : ''}\n`;
  }
}
