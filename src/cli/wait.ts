import { Command } from 'commander';
import { durationSetting } from '../config/duration.js';
import { ConfigErrors } from '../errors.js';
import { waitForReady } from '../readiness/wait.js';
import type { CliContext } from './context.js';

/** `kuma-dp wait`: kuma-dp's flags and defaults (reference kuma-dp.md §1.3). */
export function waitCommand(context: () => CliContext): Command {
  return new Command('wait')
    .description('Wait until the data plane proxy is ready (for a postStart hook)')
    .option('--url <url>', 'readiness URL; the host must be localhost, 127.0.0.1 or ::1', 'http://localhost:9901/ready')
    .option('--unix-socket <path>', 'GET /ready over this unix socket instead of --url')
    .option('--timeout <duration>', 'give up after this long', '180s')
    .option('--check-frequency <duration>', 'time between checks', '1s')
    .option('--request-timeout <duration>', 'timeout of one check', '500ms')
    .action(async (options: Record<string, string>) => {
      const ctx = context();
      const problems: string[] = [];
      const duration = (flag: string, key: string) => durationSetting(options[key]!, `--${flag}`, problems, { positive: true });
      const timeoutMs = duration('timeout', 'timeout');
      const checkFrequencyMs = duration('check-frequency', 'checkFrequency');
      const requestTimeoutMs = duration('request-timeout', 'requestTimeout');
      if (problems.length) throw new ConfigErrors(problems);
      await waitForReady({
        url: options.url,
        unixSocket: options.unixSocket,
        timeoutMs,
        checkFrequencyMs,
        requestTimeoutMs,
        logger: ctx.logger.child('wait'),
      });
    });
}
