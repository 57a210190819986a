import type { EnvoyOutput } from '../config/run-settings.js';
import type { LogSource } from './relay.js';
import type { Severity } from './logger.js';

const TAG = Buffer.from('envoy ');

/** The level field of Envoy's default log format `[%Y-%m-%d %T.%e][%t][%l][%n] ...`. */
const ENVOY_LEVEL = /^\[[^\]]*\]\[[^\]]*\]\[(\w+)\]/;

const SEVERITY: Record<string, Severity> = {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warning: 'warn',
  error: 'error',
  critical: 'error',
};

/** Envoy's own level mapped onto ours, so a pipeline filtering on `level` sees Envoy's errors. */
export function envoyLineSeverity(line: string, source: LogSource): Severity {
  const level = ENVOY_LEVEL.exec(line)?.[1];
  return (level && SEVERITY[level]) || (source === 'stderr' ? 'warn' : 'info');
}

/**
 * `raw` keeps Envoy's lines untouched (and lets the relay copy whole chunks); `tagged` prefixes
 * them so a pipeline can tell them from the application's; `json` wraps each in the shape of our
 * own `--log-format json` lines, fixing mixed formats on one stream (istio#25268). The message is
 * the whole line as Envoy wrote it: nothing is lost when a line is not in Envoy's default format.
 */
export function envoyLineTransform(mode: EnvoyOutput): ((line: Buffer, source: LogSource) => Buffer | string) | undefined {
  switch (mode) {
    case 'raw':
      return undefined;
    case 'tagged':
      return (line) => Buffer.concat([TAG, line]);
    case 'json': {
      // A flood brings thousands of lines per millisecond: format each millisecond's time once.
      let stampedAt = -1;
      let time = '';
      return (line, source) => {
        const now = Date.now();
        if (now !== stampedAt) [stampedAt, time] = [now, new Date(now).toISOString()];
        const message = line.toString('utf8');
        return JSON.stringify({ time, level: envoyLineSeverity(message, source), logger: 'envoy', source, message });
      };
    }
  }
}
