import { Command } from 'commander';
import type { RawValues } from '../config/flag-spec.js';
import { addFlagSpecs, addInstallOptions } from './flag-options.js';
import { BINARY_PATH_AND_VERSION } from './envoy-which.js';
import { DATAPLANE_TOKEN_ENV, RUN_FLAGS } from '../config/run-flags.js';
import { inlineTokenValue, resolveRunSettings, type RunSettings } from '../config/run-settings.js';
import { resolveInstallOptions, type InstallSettings } from '../envoy/install/options.js';
import { ConfigErrors } from '../errors.js';
import { SignalRouter } from '../platform/signals.js';
import type { CliContext } from './context.js';
import type { CommandResult } from './result.js';

export interface ResolvedRun {
  settings: RunSettings;
  install: InstallSettings;
  inlineToken: string | undefined;
}

/** Settings of `run` and `bootstrap generate`: all problems at once, as one exit-2 line. */
export function resolveRun(cmd: Command, ctx: CliContext): ResolvedRun {
  const cli = cmd.opts() as RawValues;
  const run = resolveRunSettings(cli, ctx.env, ctx.logLevel);
  const install = resolveInstallOptions(cli, ctx.env);
  const problems = [...run.problems, ...install.problems];
  if (run.settings.binaryPath !== undefined && install.settings.envoyVersion !== undefined) {
    problems.push(BINARY_PATH_AND_VERSION);
  }
  if (problems.length) throw new ConfigErrors(problems);
  const inlineToken = inlineTokenValue(cli, ctx.env);
  delete ctx.env[DATAPLANE_TOKEN_ENV];
  return { settings: run.settings, install: install.settings, inlineToken };
}

export function addRunOptions(cmd: Command): Command {
  return addInstallOptions(addFlagSpecs(cmd, RUN_FLAGS));
}

export function runCommand(context: () => CliContext, done: (result: CommandResult) => void): Command {
  return addRunOptions(new Command('run').description('Launch the Envoy data plane proxy: fetch or generate its bootstrap, supervise it and drain it'))
    .allowExcessArguments(false)
    .action(async (_options, cmd: Command) => {
      const ctx = context();
      const resolved = resolveRun(cmd, ctx);
      const signals = new SignalRouter().install();
      try {
        // Loaded only once the flags are known to be good: a bad flag exits without paying for it.
        const { runDataplane } = await import('../run/run-dataplane.js');
        const outcome = await runDataplane({
          ...resolved,
          env: ctx.env,
          cwd: ctx.cwd,
          logger: ctx.logger.child('run'),
          signals,
          stdin: () => process.stdin,
          selfPath: ctx.selfPath,
          envoyVersionRun: ctx.early.envoyVersion,
          onEnvoyStarted: ctx.early.onEnvoyStarted,
          setprivMemoFile: ctx.early.setprivMemoFile,
        });
        done(outcome);
      } finally {
        signals.uninstall();
      }
    });
}
