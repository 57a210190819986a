import { Command } from 'commander';
import { findEnvoyBinary, type ResolvedEnvoy } from '../envoy/binary.js';
import { envoyRoot, listManaged } from '../envoy/install/cache.js';
import { addInstallOptions, resolveInstallOptions, type InstallCliOptions, type InstallSettings } from '../envoy/install/options.js';
import { formatVersionSpec, parseVersionSpec, VERSION_FORMS } from '../envoy/install/version-spec.js';
import { ConfigErrors, KumaDpError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { PINNED_ENVOY_VERSION } from '../version.js';
import { packagePath } from '../package-root.js';
import { pickRaw } from '../config/flag-spec.js';
import { RUN_FLAGS } from '../config/run-flags.js';

export interface EnvoyCommandContext {
  logger: () => Logger;
}

/** Directory of bin/kuma-dp, the "next to kuma-dp" place of the lookup (as main computes it). */
const SELF_DIR = packagePath('bin');

/** Flags and env as for `run`; a VERSION argument, when given, stands in for --envoy-version. */
function settingsFrom(cli: InstallCliOptions, version?: string): InstallSettings {
  const { settings, problems } = resolveInstallOptions(cli, process.env);
  if (version !== undefined) {
    const spec = parseVersionSpec(version);
    if (spec) settings.envoyVersion = formatVersionSpec(spec);
    else problems.push(`"${version}" is not an Envoy version; use ${VERSION_FORMS}`);
  }
  if (problems.length) throw new ConfigErrors(problems);
  return settings;
}

/** --binary-path > KUMA_DATAPLANE_RUNTIME_BINARY_PATH, read through `run`'s own flag table. */
function binaryPathOf(opts: { binaryPath?: string }): string | undefined {
  const raw = pickRaw(RUN_FLAGS.find((spec) => spec.key === 'binaryPath')!, opts, process.env);
  return raw.origin === 'default' ? undefined : (raw.value as string);
}

/** What `run` would start, without installing anything or touching the network. */
function runWouldUse(settings: InstallSettings, binaryPath: string | undefined, logger: Logger): Promise<ResolvedEnvoy> {
  return findEnvoyBinary({
    binaryPath,
    install: settings,
    cwd: process.cwd(),
    selfDir: SELF_DIR,
    env: process.env,
    logger,
  });
}

/** SIGINT/SIGTERM abort the install (which then removes its temp files); a second one kills at once. */
async function interruptible<T>(outcome: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((name) => {
    const handler = (): void => {
      controller.abort(new KumaDpError(`interrupted by ${name}; ${outcome}`, { exitCode: name === 'SIGINT' ? 130 : 143 }));
    };
    process.once(name, handler);
    return [name, handler] as const;
  });
  try {
    return await work(controller.signal);
  } finally {
    for (const [name, handler] of handlers) process.off(name, handler);
  }
}

function installCommand(ctx: EnvoyCommandContext): Command {
  return addInstallOptions(
    new Command('install')
      .description(`download, verify and install an Envoy into the cache (default ${PINNED_ENVOY_VERSION}, or --envoy-version); prints its path`)
      .argument('[version]', 'X.Y.Z, X.Y (newest patch; needs --envoy-versions-url) or latest (likewise)'),
  ).action(async (version: string | undefined, opts: InstallCliOptions) => {
    const settings = settingsFrom(opts, version);
    const logger = ctx.logger();
    const { installEnvoy } = await import('../envoy/install/installer.js');
    const result = await interruptible('nothing was installed', (signal) =>
      installEnvoy({ settings, version: settings.envoyVersion ?? PINNED_ENVOY_VERSION, logger, signal }),
    );
    if (!result.downloaded) logger.info('Envoy is already installed', { version: result.version, path: result.path });
    process.stdout.write(`${result.path}\n`);
  });
}

function listCommand(ctx: EnvoyCommandContext): Command {
  return new Command('list')
    .description('list the installed Envoy versions, newest first; * marks the one `kuma-dp run` would use')
    .option('--binary-path <path>', 'as for run (env KUMA_DATAPLANE_RUNTIME_BINARY_PATH)')
    .option('--envoy-version <version>', 'as for run (env KUMA_DATAPLANE_RUNTIME_ENVOY_VERSION)')
    .action(async (opts: InstallCliOptions & { binaryPath?: string }) => {
      const settings = settingsFrom(opts);
      const installed = await listManaged(settings.cacheDir);
      const binaryPath = binaryPathOf(opts);
      const chosen = await runWouldUse(settings, binaryPath, ctx.logger()).catch(() => undefined);
      const lines = installed.map(({ version, path }) => `${path === chosen?.path ? '*' : ' '} ${version.padEnd(9)} ${path}`);
      if (installed.length === 0) lines.push(`no managed Envoy installed in ${envoyRoot(settings.cacheDir)}; add one with \`kuma-dp envoy install\``);
      if (!chosen && binaryPath === undefined && settings.envoyVersion) lines.push(`kuma-dp run would first install Envoy ${settings.envoyVersion} (--envoy-version)`);
      else if (!chosen) lines.push('kuma-dp run would find no Envoy (`kuma-dp envoy which` says where it looked)');
      else if (!installed.some((m) => m.path === chosen.path)) lines.push(`kuma-dp run would use ${chosen.path} (${chosen.source})`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

function whichCommand(ctx: EnvoyCommandContext): Command {
  return new Command('which')
    .description('print the absolute path of the Envoy `kuma-dp run` would start (of the managed VERSION, if given); never downloads')
    .argument('[version]', 'a managed version: X.Y.Z, X.Y or latest (newest installed match)')
    .option('--binary-path <path>', 'as for run (env KUMA_DATAPLANE_RUNTIME_BINARY_PATH)')
    .option('--envoy-version <version>', 'as for run (env KUMA_DATAPLANE_RUNTIME_ENVOY_VERSION)')
    .action(async (version: string | undefined, opts: InstallCliOptions & { binaryPath?: string }) => {
      const settings = settingsFrom(opts, version);
      // A VERSION asks for that managed Envoy, whatever a binary path would say.
      const found = await runWouldUse(settings, version === undefined ? binaryPathOf(opts) : undefined, ctx.logger());
      process.stdout.write(`${found.path}\n`);
    });
}

function removeCommand(ctx: EnvoyCommandContext): Command {
  return new Command('remove')
    .description('remove an installed Envoy version from the cache')
    .argument('<version>', 'exact version, as listed by `kuma-dp envoy list`')
    .action(async (version: string) => {
      const settings = settingsFrom({});
      const { removeEnvoy } = await import('../envoy/install/remove.js');
      const dir = await interruptible(`Envoy ${version} was not removed`, (signal) => removeEnvoy(settings.cacheDir, version, ctx.logger(), signal));
      process.stdout.write(`removed Envoy ${version} (${dir})\n`);
    });
}

/** `kuma-dp envoy install|list|which|remove`: the managed Envoys of DESIGN §4–5. */
export function envoyCommand(ctx: EnvoyCommandContext): Command {
  return new Command('envoy')
    .description('manage the Envoy binaries kuma-dp downloads (cache: $KUMA_DP_CACHE_DIR, else $XDG_CACHE_HOME/kuma-dp, else ~/.cache/kuma-dp)')
    .addCommand(installCommand(ctx))
    .addCommand(listCommand(ctx))
    .addCommand(whichCommand(ctx))
    .addCommand(removeCommand(ctx));
}
