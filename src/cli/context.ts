import { resolve } from 'node:path';
import { colorWanted, loadColors, LOG_FORMATS, LOG_LEVELS, Logger, type LogFormat, type LogLevel } from '../logging/logger.js';
import { ConfigError } from '../errors.js';
import type { EarlyStart } from './early-start.js';

export interface RootOptions {
  logLevel?: string;
  logFormat?: string;
  logOutputPath?: string;
}

export interface CliContext {
  logger: Logger;
  logLevel: LogLevel;
  logFormat: LogFormat;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** The kuma-dp executable (bin/kuma-dp), for "Envoy next to kuma-dp". */
  selfPath: string;
  early: EarlyStart;
}

/**
 * `announceLogFile`: say on stdout where the logs go, as kuma-dp does for `run`; commands whose
 * stdout is their answer (`envoy which`, `bootstrap generate`) stay clean for `$(...)`.
 */
export async function createContext(options: RootOptions, env: NodeJS.ProcessEnv, selfPath: string, announceLogFile: boolean, early: EarlyStart = {}): Promise<CliContext> {
  const problems: string[] = [];
  const logLevel = (options.logLevel ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`unknown log level "${options.logLevel}" (--log-level); use off, info or debug`);
  const logFormat = (options.logFormat ?? 'text') as LogFormat;
  if (!LOG_FORMATS.includes(logFormat)) problems.push(`unknown log format "${options.logFormat}" (--log-format); use text or json`);
  if (problems.length) throw new ConfigError(problems.join('; '));
  const outputPath = options.logOutputPath ? resolve(options.logOutputPath) : undefined;
  if (outputPath && announceLogFile) process.stdout.write(`kuma-dp: logs will be stored in "${outputPath}"\n`);
  const colors = logLevel !== 'off' && logFormat === 'text' && !outputPath && colorWanted(process.stderr, env) ? await loadColors() : undefined;
  let logger: Logger;
  try {
    logger = Logger.create({ level: logLevel, format: logFormat, outputPath, colors });
  } catch (err) {
    throw new ConfigError(`cannot open --log-output-path ${outputPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: 'point it at a writable file',
    });
  }
  return { logger, logLevel, logFormat, env, cwd: process.cwd(), selfPath, early };
}
