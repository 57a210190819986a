import { Command, CommanderError, Option } from 'commander';
import { errorLine, ExitCode, KumaDpError } from '../errors.js';
import { createContext, type CliContext, type RootOptions } from './context.js';
import { runCommand } from './run.js';
import { waitCommand } from './wait.js';
import { versionCommand } from './version.js';
import { bootstrapCommand } from './bootstrap.js';
import { envoyCommand } from './envoy.js';
import type { CommandResult } from './result.js';
import { fatalLine, OUTPUT_CLOSED } from './fatal-line.js';
import { packagePath } from '../package-root.js';
import type { EarlyStart } from './early-start.js';

const SELF_PATH = packagePath('bin', 'kuma-dp');

/** The command whose arguments commander refused, for the `see 'kuma-dp <command> --help'` hint. */
interface Refusal {
  command?: Command;
}

function buildProgram(argv: readonly string[], onResult: (result: CommandResult) => void, refusal: Refusal, early: EarlyStart): Command {
  let ctx: CliContext | undefined;
  const program = new Command('kuma-dp')
    .description('Data plane wrapper of the Kuma service mesh: runs and supervises Envoy')
    .addOption(new Option('--log-level <level>', 'kuma-dp log level: off, info, debug').default('info'))
    .addOption(new Option('--log-format <format>', 'kuma-dp log format: text, json').default('text'))
    .option('--log-output-path <file>', "write kuma-dp's own logs to this file instead of stderr")
    .showHelpAfterError(false)
    .exitOverride();
  // Root flags are checked for every command, even those that log nothing.
  program.hook('preAction', async (_program, action) => {
    ctx = await createContext(program.opts<RootOptions>(), process.env, SELF_PATH, action.name() === 'run', early);
  });
  // Commands ask for it in their actions, which run after the hook.
  const context = () => ctx!;
  const commands: Record<string, () => Command> = {
    run: () => runCommand(context, onResult),
    wait: () => waitCommand(context),
    version: () => versionCommand(),
    envoy: () => envoyCommand({ logger: () => context().logger }),
    bootstrap: () => bootstrapCommand(context),
  };
  // Building every command and its flags costs `run` ~3 ms of each start; the one named is enough,
  // unless the root itself is asked for help or has to name the commands.
  const named = namedCommand(argv.slice(2));
  const only = named !== undefined && Object.hasOwn(commands, named) ? named : undefined;
  for (const [name, build] of Object.entries(commands)) if (only === undefined || only === name) program.addCommand(build());
  const quiet = (cmd: Command) => {
    cmd
      .exitOverride((err) => {
        refusal.command ??= cmd;
        throw err;
      })
      .configureOutput({ writeErr: () => {}, outputError: () => {} });
    cmd.commands.forEach(quiet);
  };
  quiet(program);
  return program;
}

/** Root flags that take a value as the next argument. */
const ROOT_VALUE_FLAGS = new Set(['--log-level', '--log-format', '--log-output-path']);

/**
 * The first argument that is no root flag or its value; undefined when a root `--help`, a
 * misspelt flag or a missing command needs the whole program (an unknown name does too).
 */
function namedCommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-')) return arg;
    if (ROOT_VALUE_FLAGS.has(arg)) i++;
    else if (!ROOT_VALUE_FLAGS.has(arg.split('=')[0]!)) return undefined;
  }
  return undefined;
}

function commandPath(cmd: Command | undefined): string {
  const names: string[] = [];
  for (let at = cmd; at; at = at.parent ?? undefined) names.unshift(at.name());
  return names.length > 0 ? names.join(' ') : 'kuma-dp';
}

/**
 * Commander's message as our one line. An unknown `--flag=value` is named without its value:
 * a misspelt `--dataplane-token=...` must not print the token.
 */
function commanderLine(err: CommanderError, refused: Command | undefined): string {
  const message = err.message.replace(/^error: /, '').replace(/'(--?[^'=\s]+)=[^']*'/g, "'$1=…'");
  return `${message}; see '${commandPath(refused)} --help'`;
}

/**
 * Parses argv, runs the command, and sets the exit code; every failure is one line on stderr.
 * `early`: what bin/kuma-dp's launcher started before loading the CLI.
 */
export async function main(argv: string[], early: EarlyStart = {}): Promise<void> {
  // A bug must still end in one line, not a stack trace; Envoy dies with us (parent-death signal).
  const bug = (err: unknown) => {
    // `kuma-dp envoy which | head -c0`: no bug, the reader just went away.
    const closed = (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE';
    fatalLine(closed ? OUTPUT_CLOSED : `internal error: ${errorLine(err)}; please report it with the kuma-dp logs`, undefined);
    process.exit(ExitCode.FAILURE);
  };
  process.on('uncaughtException', bug);
  process.on('unhandledRejection', bug);
  let result: CommandResult | undefined;
  const refusal: Refusal = {};
  const program = buildProgram(argv, (r) => (result = r), refusal, early);
  if (argv.length <= 2) {
    program.outputHelp();
    return;
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    const format = program.opts<RootOptions>().logFormat;
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return;
      fatalLine(commanderLine(err, refusal.command), format);
      process.exitCode = ExitCode.USAGE;
      return;
    }
    fatalLine(errorLine(err), format);
    process.exitCode = err instanceof KumaDpError ? err.exitCode : ExitCode.FAILURE;
    return;
  }
  if (!result) return;
  const outcome: CommandResult = result;
  if (outcome.exitCode !== 0 && outcome.message) fatalLine(outcome.message, program.opts<RootOptions>().logFormat);
  if (outcome.forced) process.exit(outcome.exitCode);
  process.exitCode = outcome.exitCode;
}
