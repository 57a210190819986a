import { Command } from 'commander';
import { envoyRoot, listManaged } from '../envoy/install/cache.js';
import { cacheDirFromEnv, type InstallCliOptions } from '../envoy/install/options.js';
import { KumaDpError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { PINNED_ENVOY_VERSION } from '../version.js';
import { packagePath } from '../package-root.js';
import { addInstallOptions } from './flag-options.js';
import { BINARY_PATH_SPEC, binaryPathOf, ENVOY_VERSION_SPEC, envoyWhich, installSettingsFrom, runWouldUse, type EnvoyCliOptions, type LookupPlace } from './envoy-which.js';

export interface EnvoyCommandContext {
  logger: () => Logger;
}

/** The lookup as `run` in this process would do it; bin/kuma-dp is "next to kuma-dp". */
function here(): LookupPlace {
  return { env: process.env, cwd: process.cwd(), selfDir: packagePath('bin') };
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

/**
 * The two flags that choose the Envoy `run` would start, named and read as `run` reads them, for
 * the commands that only look (their own wording: they never install).
 */
function addEnvoyChoiceOptions(cmd: Command): Command {
  for (const spec of [BINARY_PATH_SPEC, ENVOY_VERSION_SPEC]) cmd.option(spec.flags!, `as for run (env ${spec.env})`);
  return cmd;
}

function installCommand(ctx: EnvoyCommandContext): Command {
  return addInstallOptions(
    new Command('install')
      .description(`download, verify and install an Envoy into the cache (default ${PINNED_ENVOY_VERSION}, or --envoy-version); prints its path`)
      .argument('[version]', 'X.Y.Z, X.Y (newest patch; needs --envoy-versions-url) or latest (likewise)'),
  ).action(async (version: string | undefined, opts: InstallCliOptions) => {
    const settings = installSettingsFrom(opts, process.env, version);
    const logger = ctx.logger();
    const { installEnvoy } = await import('../envoy/install/installer.js');
    const result = await interruptible('nothing was installed', (signal) =>
      installEnvoy({ settings, version: settings.envoyVersion ?? PINNED_ENVOY_VERSION, logger, signal }),
    );
    if (!result.downloaded) logger.info('Envoy is already installed', { version: result.version, path: result.path });
    process.stdout.write(`${result.path}\n`);
  });
}

function listCommand(): Command {
  return addEnvoyChoiceOptions(
    new Command('list').description('list the installed Envoy versions, newest first; * marks the one `kuma-dp run` would use'),
  ).action(async (opts: EnvoyCliOptions) => {
    const settings = installSettingsFrom(opts, process.env);
    const installed = listManaged(settings.cacheDir);
    const binaryPath = binaryPathOf(opts, process.env, settings);
    const chosen = await runWouldUse(settings, binaryPath, here()).catch(() => undefined);
    const lines = installed.map(({ version, path }) => `${path === chosen?.path ? '*' : ' '} ${version.padEnd(9)} ${path}`);
    if (installed.length === 0) lines.push(`no managed Envoy installed in ${envoyRoot(settings.cacheDir)}; add one with \`kuma-dp envoy install\``);
    if (!chosen && binaryPath === undefined && settings.envoyVersion) lines.push(`kuma-dp run would first install Envoy ${settings.envoyVersion} (--envoy-version)`);
    else if (!chosen) lines.push('kuma-dp run would find no Envoy (`kuma-dp envoy which` says where it looked)');
    else if (!installed.some((m) => m.path === chosen.path)) lines.push(`kuma-dp run would use ${chosen.path} (${chosen.source})`);
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}

function whichCommand(): Command {
  return addEnvoyChoiceOptions(
    new Command('which')
      .description('print the absolute path of the Envoy `kuma-dp run` would start (of the managed VERSION, if given); never downloads')
      .argument('[version]', 'a managed version: X.Y.Z, X.Y or latest (newest installed match)'),
  ).action(async (version: string | undefined, opts: EnvoyCliOptions) => {
    const found = await envoyWhich(version, opts, here());
    process.stdout.write(`${found.path}\n`);
  });
}

function removeCommand(ctx: EnvoyCommandContext): Command {
  return new Command('remove')
    .description('remove an installed Envoy version from the cache')
    .argument('<version>', 'exact version, as listed by `kuma-dp envoy list`')
    .action(async (version: string) => {
      const { removeEnvoy } = await import('../envoy/install/remove.js');
      const dir = await interruptible(`Envoy ${version} was not removed`, (signal) => removeEnvoy(cacheDirFromEnv(process.env), version, ctx.logger(), signal));
      process.stdout.write(`removed Envoy ${version} (${dir})\n`);
    });
}

/** `kuma-dp envoy install|list|which|remove`: the managed Envoys of DESIGN §4–5. */
export function envoyCommand(ctx: EnvoyCommandContext): Command {
  return new Command('envoy')
    .description('manage the Envoy binaries kuma-dp downloads (cache: $KUMA_DP_CACHE_DIR, else $XDG_CACHE_HOME/kuma-dp, else ~/.cache/kuma-dp)')
    .addCommand(installCommand(ctx))
    .addCommand(listCommand())
    .addCommand(whichCommand())
    .addCommand(removeCommand(ctx));
}
