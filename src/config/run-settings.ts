import { durationSetting } from './duration.js';
import { pickRaw, type RawValues, type RawSetting } from './flag-spec.js';
import { RUN_FLAGS } from './run-flags.js';
import { chooseRestartPolicy, type RestartChoice, type RestartPolicy } from '../supervisor/restart-policy.js';
import type { LogLevel } from '../logging/logger.js';
import { effectiveName } from '../dataplane/name.js';

const ENVOY_LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'warn', 'error', 'critical', 'off'] as const;

export type BootstrapSource = 'remote' | 'local';
export type EnvoyOutput = 'raw' | 'tagged' | 'json';

/** Everything `kuma-dp run` needs, typed and validated; the token itself is never held here. */
export interface RunSettings {
  cpAddress: URL;
  /** As typed: URL parsing drops an explicit default port (https://cp:443), which a bootstrap must keep. */
  cpAddressText: string;
  name: string | undefined;
  mesh: string | undefined;
  dataplaneInline: string | undefined;
  dataplaneFile: string | undefined;
  dataplaneVars: string[];
  tokenFile: string | undefined;
  binaryPath: string | undefined;
  workDir: string | undefined;
  drainTimeMs: number;
  minDrainTimeMs: number;
  caCertFile: string | undefined;
  skipVerify: boolean;
  envoyLogLevel: string;
  envoyComponentLogLevel: string | undefined;
  concurrency: number;
  proxyType: string;
  retryBackoffMs: number;
  retryMaxDurationMs: number;
  readinessPort: number;
  bootstrap: BootstrapSource;
  bootstrapTemplate: string | undefined;
  restart: RestartChoice;
  restartBackoffMs: number;
  restartMaxBackoffMs: number;
  maxRestarts: number;
  restartWindowMs: number;
  envoyOutput: EnvoyOutput;
}

export interface ResolvedRunSettings {
  settings: RunSettings;
  /** Every problem found, each one line naming the flag or env var and how to fix it. */
  problems: string[];
}

const TEMPLATE_KEYS = ['dataplane', 'dataplaneFile'];

/** flag > env > default for every run setting, all problems collected rather than the first thrown. */
export function resolveRunSettings(cli: RawValues, env: NodeJS.ProcessEnv, logLevel: LogLevel): ResolvedRunSettings {
  const problems: string[] = [];
  const raw = new Map<string, RawSetting>(RUN_FLAGS.map((spec) => [spec.key, pickRaw(spec, cli, env)]));
  const text = (key: string): string | undefined => {
    const value = raw.get(key)!.value;
    return Array.isArray(value) ? value.join(',') : value === '' ? undefined : value;
  };
  const origin = (key: string) => raw.get(key)!.origin;

  const duration = (key: string, rule: { positive: boolean }): number => durationSetting(text(key) ?? '0', origin(key), problems, rule);
  const integer = (key: string, min: number, max: number): number => {
    const value = text(key) ?? '';
    const n = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${origin(key)} must be a whole number from ${min} to ${max}, got "${value}"`);
      return min;
    }
    return n;
  };
  const bool = (key: string): boolean => {
    const value = (text(key) ?? 'false').toLowerCase();
    if (['true', '1', 'yes'].includes(value)) return true;
    if (['false', '0', 'no'].includes(value)) return false;
    problems.push(`${origin(key)} must be true or false, got "${value}"`);
    return false;
  };
  /** One of the flag table's `choices` for the key; T is the type those choices make up. */
  const choice = <T extends string>(key: string): T => {
    const allowed = RUN_FLAGS.find((spec) => spec.key === key)!.choices!;
    const value = text(key) ?? '';
    if (!allowed.includes(value)) {
      problems.push(`${origin(key)} must be one of ${allowed.join(', ')}, got "${value}"`);
      return allowed[0] as T;
    }
    return value as T;
  };

  let cpAddress = new URL('https://localhost:5678');
  const cpText = text('cpAddress')!;
  try {
    cpAddress = new URL(cpText);
    if (cpAddress.protocol !== 'http:' && cpAddress.protocol !== 'https:') {
      problems.push(`${origin('cpAddress')} "${cpText}" must use http or https, e.g. https://kuma-cp:5678`);
    }
  } catch {
    problems.push(`${origin('cpAddress')} "${cpText}" is not a URL; use e.g. https://kuma-cp:5678`);
  }

  const proxyType = text('proxyType')!;
  if (proxyType !== 'dataplane') problems.push(`invalid proxy type "${proxyType}" (${origin('proxyType')}); only dataplane is supported`);

  const hasTemplate = TEMPLATE_KEYS.some((key) => text(key) !== undefined);
  const name = text('name');
  const mesh = text('mesh');
  if (hasTemplate && (name !== undefined || mesh !== undefined)) {
    problems.push('--name and --mesh cannot be specified together with a Dataplane template (--dataplane or --dataplane-file): the template names the dataplane; drop one of them');
  }
  if (!hasTemplate) {
    // On Kubernetes the name comes from POD_NAME.POD_NAMESPACE.
    if (effectiveName(name, env) === '') problems.push('--name is required without a Dataplane template; pass --name (or KUMA_DATAPLANE_NAME) or a template with --dataplane-file');
    if (mesh === undefined) problems.push('--mesh is required without a Dataplane template; pass --mesh (or KUMA_DATAPLANE_MESH) or a template with --dataplane-file');
  }

  // --config-dir is an alias: given on the command line it beats the work dir's env var too.
  const fromCli = (key: string) => (origin(key).startsWith('--') ? text(key) : undefined);
  const workDir = fromCli('workDir') ?? fromCli('configDir') ?? text('workDir') ?? text('configDir');
  const envoyLogLevel = text('envoyLogLevel') ?? logLevel;
  if (!(ENVOY_LOG_LEVELS as readonly string[]).includes(envoyLogLevel)) {
    problems.push(`${origin('envoyLogLevel')} must be one of ${ENVOY_LOG_LEVELS.join(', ')}, got "${envoyLogLevel}"`);
  }

  const settings: RunSettings = {
    cpAddress,
    cpAddressText: cpText,
    name,
    mesh,
    dataplaneInline: text('dataplane'),
    dataplaneFile: text('dataplaneFile'),
    dataplaneVars: (raw.get('dataplaneVar')!.value as string[] | undefined) ?? [],
    tokenFile: text('dataplaneTokenFile'),
    binaryPath: raw.get('binaryPath')!.origin === 'default' ? undefined : text('binaryPath'),
    workDir,
    drainTimeMs: duration('drainTime', { positive: true }),
    minDrainTimeMs: duration('minDrainTime', { positive: false }),
    caCertFile: text('caCertFile'),
    skipVerify: bool('skipVerify'),
    envoyLogLevel,
    envoyComponentLogLevel: text('envoyComponentLogLevel'),
    concurrency: integer('concurrency', 0, 1024),
    proxyType,
    retryBackoffMs: duration('retryBackoff', { positive: true }),
    retryMaxDurationMs: duration('retryMaxDuration', { positive: true }),
    readinessPort: integer('readinessPort', 1, 65535),
    bootstrap: choice<BootstrapSource>('bootstrap'),
    bootstrapTemplate: text('bootstrapTemplate'),
    restart: chooseRestartPolicy(choice<RestartPolicy | 'auto'>('envoyRestart'), env),
    restartBackoffMs: duration('envoyRestartBackoff', { positive: true }),
    restartMaxBackoffMs: duration('envoyRestartMaxBackoff', { positive: true }),
    maxRestarts: integer('envoyMaxRestarts', 0, 1000),
    restartWindowMs: duration('envoyRestartWindow', { positive: true }),
    envoyOutput: choice<EnvoyOutput>('envoyOutput'),
  };
  if (settings.minDrainTimeMs > settings.drainTimeMs) {
    // A short --drain-time (e.g. for docker stop's 10 s) must not trip over the default minimum.
    if (origin('minDrainTime') === 'default') settings.minDrainTimeMs = settings.drainTimeMs;
    else problems.push(`${origin('minDrainTime')} (${text('minDrainTime')}) must not exceed ${origin('drainTime')} (${text('drainTime')})`);
  }
  // Both parsed (a bad one is 0 and already reported): then the cap must hold the first delay.
  if (settings.restartBackoffMs > 0 && settings.restartMaxBackoffMs > 0 && settings.restartMaxBackoffMs < settings.restartBackoffMs) {
    problems.push(
      `${origin('envoyRestartMaxBackoff')} (${text('envoyRestartMaxBackoff')}) must not be shorter than ${origin('envoyRestartBackoff')} (${text('envoyRestartBackoff')})`,
    );
  }
  return { settings, problems };
}

/** The inline token value, read from where it came from only at the moment it is written to disk. */
export function inlineTokenValue(cli: RawValues, env: NodeJS.ProcessEnv): string | undefined {
  const spec = RUN_FLAGS.find((s) => s.key === 'dataplaneToken')!;
  const value = pickRaw(spec, cli, env).value;
  return typeof value === 'string' && value !== '' ? value : undefined;
}
