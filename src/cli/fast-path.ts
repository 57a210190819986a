import { writeSync } from 'node:fs';
import { errorLine, ExitCode, KumaDpError } from '../errors.js';
import { envoyWhich } from './envoy-which.js';
import { OUTPUT_CLOSED } from './fatal-line.js';

/**
 * `kuma-dp envoy which [VERSION]` with no options, answered without commander and the rest of the
 * CLI: scripts run it on every start, and a full CLI load costs twice a bare `node` start (README,
 * performance). bin/kuma-dp's launcher (launcher.ts) asks here first; anything but a plain
 * `envoy which`, options and `--help` included, returns undefined and goes to the full CLI, which
 * gives the same answers through the same envoyWhich().
 */
export async function fastPath(args: readonly string[], selfDir: string): Promise<number | undefined> {
  const [command, subcommand, version, ...rest] = args;
  if (command !== 'envoy' || subcommand !== 'which' || rest.length > 0 || version?.startsWith('-')) return undefined;
  try {
    const found = await envoyWhich(version, {}, { env: process.env, cwd: process.cwd(), selfDir });
    if (writeLine(1, found.path)) return ExitCode.OK;
    writeLine(2, `Error: ${OUTPUT_CLOSED}`);
    return ExitCode.FAILURE;
  } catch (err) {
    const internal = !(err instanceof KumaDpError);
    writeLine(2, `Error: ${internal ? `internal error: ${errorLine(err)}; please report it with the kuma-dp logs` : errorLine(err)}`);
    return internal ? ExitCode.FAILURE : err.exitCode;
  }
}

/**
 * Straight to the descriptor: process.stdout would load the stream and socket modules, a tenth of
 * the whole command's time. False when the line could not be written (a reader that went away).
 */
function writeLine(fd: number, text: string): boolean {
  try {
    writeSync(fd, `${text}\n`);
    return true;
  } catch {
    return false;
  }
}
