export interface EnvoyArgsInput {
  configPath: string;
  drainTimeMs: number;
  logLevel: string;
  componentLogLevel?: string | undefined;
  concurrency: number;
  platform: NodeJS.Platform;
}

/**
 * Envoy's argv, exactly kuma-dp's (reference kuma-dp.md §4). Hot restart is disabled so that
 * several Envoys share a host without --base-id; the drain time is truncated to whole seconds.
 */
export function buildEnvoyArgs(input: EnvoyArgsInput): string[] {
  const args = [
    '--config-path',
    input.configPath,
    '--drain-time-s',
    String(Math.floor(input.drainTimeMs / 1000)),
    '--drain-strategy',
    'immediate',
    '--disable-hot-restart',
    '--log-level',
    input.logLevel,
  ];
  if (input.componentLogLevel) args.push('--component-log-level', input.componentLogLevel);
  if (input.concurrency > 0) args.push('--concurrency', String(input.concurrency));
  else if (input.platform === 'linux') args.push('--cpuset-threads');
  return args;
}
