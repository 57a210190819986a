import { findEnvoyBinary, type ResolvedEnvoy } from '../envoy/binary.js';
import { INSTALL_FLAG_SPECS, resolveInstallOptions, type InstallCliOptions, type InstallSettings } from '../envoy/install/options.js';
import { ConfigErrors } from '../errors.js';
import { pickRaw } from '../config/flag-spec.js';
import { RUN_FLAGS } from '../config/run-flags.js';

export type EnvoyCliOptions = InstallCliOptions & { binaryPath?: string };

/** Where to look and what the lookup sees; the CLI passes its own process's values. */
export interface LookupPlace {
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Directory of bin/kuma-dp, the "next to kuma-dp" place of the lookup. */
  selfDir: string;
}

/** Flags and env as for `run`; a VERSION argument, when given, stands in for --envoy-version. */
export function installSettingsFrom(cli: InstallCliOptions, env: NodeJS.ProcessEnv, version?: string): InstallSettings {
  const { settings, problems } = resolveInstallOptions(cli, env, version);
  if (problems.length) throw new ConfigErrors(problems);
  return settings;
}

/** The two flags that choose the Envoy, as `run` declares them. */
export const BINARY_PATH_SPEC = RUN_FLAGS.find((spec) => spec.key === 'binaryPath')!;
export const ENVOY_VERSION_SPEC = INSTALL_FLAG_SPECS.find((spec) => spec.key === 'envoyVersion')!;

export const BINARY_PATH_AND_VERSION = '--binary-path and --envoy-version both choose the Envoy to run; give only one of them';

/**
 * --binary-path > KUMA_DATAPLANE_RUNTIME_BINARY_PATH, read through `run`'s own flag table; like
 * `run`, refused next to an --envoy-version (flag or env).
 */
export function binaryPathOf(cli: { binaryPath?: string }, env: NodeJS.ProcessEnv, settings: InstallSettings): string | undefined {
  const raw = pickRaw(BINARY_PATH_SPEC, cli, env);
  if (raw.origin === 'default') return undefined;
  if (settings.envoyVersion !== undefined) throw new ConfigErrors([BINARY_PATH_AND_VERSION]);
  return raw.value as string;
}

/** What `run` would start, without installing anything or touching the network. */
export function runWouldUse(settings: InstallSettings, binaryPath: string | undefined, place: LookupPlace): Promise<ResolvedEnvoy> {
  return findEnvoyBinary({ binaryPath, install: settings, ...place });
}

/**
 * `kuma-dp envoy which [VERSION]`. Scripts call it in `$(...)` on every start, so bin/kuma-dp
 * answers the plain form through this module alone, without loading commander or the rest of
 * the CLI (README, performance); the `envoy which` command calls the same function.
 */
export async function envoyWhich(version: string | undefined, cli: EnvoyCliOptions, place: LookupPlace): Promise<ResolvedEnvoy> {
  const settings = installSettingsFrom(cli, place.env, version);
  // A VERSION asks for that managed Envoy, whatever a binary path would say.
  return runWouldUse(settings, version === undefined ? binaryPathOf(cli, place.env, settings) : undefined, place);
}
