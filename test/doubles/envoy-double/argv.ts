/**
 * Envoy's command line as TCLAP parses it (source/server/options_impl.cc): long flags with a
 * separate or `=` value, a few short aliases, each non-repeatable flag at most once, and the same
 * error texts, so wrappers see what a real Envoy would print.
 */

type Kind = 'switch' | 'string' | 'uint' | 'multi';

interface Spec {
  kind: Kind;
  short?: string;
  label?: string;
}

const SPECS: Record<string, Spec> = {
  'config-path': { kind: 'string', short: 'c' },
  'config-yaml': { kind: 'string' },
  mode: { kind: 'string' },
  'admin-address-path': { kind: 'string' },
  'drain-time-s': { kind: 'uint' },
  'drain-strategy': { kind: 'string' },
  'parent-shutdown-time-s': { kind: 'uint' },
  'disable-hot-restart': { kind: 'switch' },
  'base-id': { kind: 'uint' },
  'use-dynamic-base-id': { kind: 'switch' },
  'base-id-path': { kind: 'string' },
  'restart-epoch': { kind: 'uint' },
  'log-level': { kind: 'string', short: 'l' },
  'component-log-level': { kind: 'string' },
  'log-format': { kind: 'string' },
  'log-format-escaped': { kind: 'switch' },
  'log-path': { kind: 'string' },
  concurrency: { kind: 'uint' },
  'cpuset-threads': { kind: 'switch' },
  'service-node': { kind: 'string' },
  'service-cluster': { kind: 'string' },
  'service-zone': { kind: 'string' },
  'local-address-ip-version': { kind: 'string' },
  'allow-unknown-static-fields': { kind: 'switch' },
  'reject-unknown-dynamic-fields': { kind: 'switch' },
  'ignore-unknown-dynamic-fields': { kind: 'switch' },
  'disable-extensions': { kind: 'string' },
  'stats-tag': { kind: 'multi' },
  'enable-core-dump': { kind: 'switch' },
  'enable-fine-grain-logging': { kind: 'switch' },
  'file-flush-interval-msec': { kind: 'uint' },
  'skip-hot-restart-on-no-parent': { kind: 'switch' },
  'hot-restart-version': { kind: 'switch' },
  version: { kind: 'switch' },
  help: { kind: 'switch', short: 'h' },
};

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface EnvoyOptions {
  configPath?: string;
  configYaml?: string;
  mode: 'serve' | 'validate' | 'init_only';
  adminAddressPath?: string;
  drainTimeS: number;
  drainStrategy: 'gradual' | 'immediate';
  parentShutdownTimeS: number;
  disableHotRestart: boolean;
  logLevel: LogLevel;
  componentLogLevel?: string;
  logPath?: string;
  concurrency?: number;
  cpusetThreads: boolean;
  serviceNode?: string;
  serviceCluster?: string;
  serviceZone?: string;
  baseId: number;
  restartEpoch: number;
}

/** What the process should do instead of serving: print and exit with a code. */
export interface EarlyExit {
  stdout?: string;
  stderr?: string;
  code: number;
}

export type ParseResult = { options: EnvoyOptions } | { exit: EarlyExit };

const BRIEF_USAGE =
  '\nBrief USAGE: \n' +
  '   envoy  [--config-path <string>] [--config-yaml <string>] [--mode <string>] [--log-level <string>]\n' +
  '          [--drain-time-s <uint32_t>] [--drain-strategy <string>] [--disable-hot-restart] [--concurrency <uint32_t>]\n' +
  '          [--cpuset-threads] [--admin-address-path <string>] [--component-log-level <string>] [--version] [-h] ...\n' +
  '\nFor complete USAGE and HELP type: \n   envoy --help\n\n';

function parseError(argument: string, message: string): { exit: EarlyExit } {
  return { exit: { code: 1, stderr: `PARSE ERROR: Argument: ${argument}\n             ${message}\n${BRIEF_USAGE}` } };
}

function fail(message: string): { exit: EarlyExit } {
  return { exit: { code: 1, stderr: `${message}\n` } };
}

export function parseArgv(argv: readonly string[], versionBanner: string): ParseResult {
  const seen = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else if (/^-[A-Za-z]$/.test(arg)) {
      name = Object.keys(SPECS).find((key) => SPECS[key]!.short === arg.slice(1));
    }
    const spec = name === undefined ? undefined : SPECS[name];
    if (!name || !spec) return parseError(arg, "Couldn't find match for argument");
    const label = `(--${name})`;
    if (spec.kind !== 'multi' && seen.has(name)) return parseError(label, 'Argument already set!');
    if (spec.kind === 'switch') {
      if (name === 'version') return { exit: { code: 0, stdout: `\nenvoy  version: ${versionBanner}\n\n` } };
      if (name === 'help') return { exit: { code: 0, stdout: BRIEF_USAGE.replace('Brief USAGE', 'USAGE') } };
      if (name === 'hot-restart-version') return { exit: { code: 0, stdout: 'disabled\n' } };
      seen.set(name, true);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) return parseError(label, 'Missing a value for this argument!');
      value = argv[++i]!;
    }
    if (spec.kind === 'uint' && !/^\d+$/.test(value)) {
      return parseError(label, `Couldn't read argument value from string '${value}'`);
    }
    seen.set(name, spec.kind === 'multi' && seen.has(name) ? `${seen.get(name)},${value}` : value);
  }
  const str = (key: string): string | undefined => {
    const v = seen.get(key);
    return typeof v === 'string' ? v : undefined;
  };
  const uint = (key: string, fallback: number): number => Number(str(key) ?? fallback);

  const mode = str('mode') ?? 'serve';
  if (mode !== 'serve' && mode !== 'validate' && mode !== 'init_only') return fail(`error: unknown mode '${mode}'`);
  const drainStrategy = str('drain-strategy') ?? 'gradual';
  if (drainStrategy !== 'gradual' && drainStrategy !== 'immediate') {
    return fail(`error: unknown drain-strategy '${drainStrategy}'`);
  }
  const logLevel = str('log-level') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) return fail(`error: invalid log level specified '${logLevel}'`);
  const componentLogLevel = str('component-log-level');
  if (componentLogLevel !== undefined) {
    for (const pair of componentLogLevel.split(',')) {
      const [component, level, extra] = pair.split(':');
      if (!component || level === undefined || extra !== undefined) {
        return fail(`error: component log level not correctly specified '${pair}'`);
      }
      if (!(LOG_LEVELS as readonly string[]).includes(level)) return fail(`error: invalid log level specified '${level}'`);
    }
  }
  const concurrency = str('concurrency');
  return {
    options: {
      configPath: str('config-path'),
      configYaml: str('config-yaml'),
      mode,
      adminAddressPath: str('admin-address-path'),
      drainTimeS: uint('drain-time-s', 600),
      drainStrategy,
      parentShutdownTimeS: uint('parent-shutdown-time-s', 900),
      disableHotRestart: seen.has('disable-hot-restart'),
      logLevel: logLevel as LogLevel,
      componentLogLevel,
      logPath: str('log-path'),
      concurrency: concurrency === undefined ? undefined : Math.max(1, Number(concurrency)),
      cpusetThreads: seen.has('cpuset-threads'),
      serviceNode: str('service-node'),
      serviceCluster: str('service-cluster'),
      serviceZone: str('service-zone'),
      baseId: uint('base-id', 0),
      restartEpoch: uint('restart-epoch', 0),
    },
  };
}
