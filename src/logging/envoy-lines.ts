import type { EnvoyOutput } from '../config/run-settings.js';
import type { LogSource } from './relay.js';

const TAG = Buffer.from('envoy ');

/**
 * `raw` keeps Envoy's lines untouched (and lets the relay copy whole chunks); `tagged` prefixes
 * them so a pipeline can tell them from the application's; `json` wraps each in the shape of our
 * own `--log-format json` lines, fixing mixed formats on one stream (istio#25268).
 */
export function envoyLineTransform(mode: EnvoyOutput): ((line: Buffer, source: LogSource) => Buffer | string) | undefined {
  switch (mode) {
    case 'raw':
      return undefined;
    case 'tagged':
      return (line) => Buffer.concat([TAG, line]);
    case 'json':
      return (line, source) =>
        JSON.stringify({ time: new Date().toISOString(), level: 'info', logger: 'envoy', source, message: line.toString('utf8') });
  }
}
