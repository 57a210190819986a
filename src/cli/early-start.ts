import { BINARY_PATH_SPEC, ENVOY_VERSION_SPEC, envoyWhich, type LookupPlace } from './envoy-which.js';
import { startVersionRun, type VersionRun } from '../envoy/version-run.js';
import { versionMemo } from '../envoy/version-memo.js';
import { DATAPLANE_TOKEN_ENV } from '../config/run-flags.js';

/**
 * Work `run` begins before the CLI bundle has loaded (a third of the time to Envoy's exec):
 * `envoy --version` runs on the other core while this one loads the CLI, instead of after.
 */
export interface EarlyStart {
  /** `--version` of the Envoy `run` will most likely start; prepare.ts uses it only for that very binary. */
  envoyVersion?: VersionRun;
  /**
   * Called once, when `run` has started Envoy: what was compiled by then is the start path, the
   * part of `run` its code cache is for (launcher.ts).
   */
  onEnvoyStarted?: () => void;
}

/**
 * The Envoy is guessed from the two flags that choose it and the environment, with `run`'s own
 * lookup. Nothing is reported here: a wrong guess costs one extra `--version` and the CLI runs
 * its own; whatever is wrong with the flags the CLI finds and reports as usual.
 */
export async function startEarly(args: readonly string[], place: LookupPlace, versionMemoFile?: string): Promise<EarlyStart> {
  if (args.includes('--help') || args.includes('-h')) return {};
  const env = { ...place.env };
  delete env[DATAPLANE_TOKEN_ENV];
  try {
    const found = await envoyWhich(undefined, { binaryPath: lastValue(args, flagName(BINARY_PATH_SPEC.flags!)), envoyVersion: lastValue(args, flagName(ENVOY_VERSION_SPEC.flags!)) }, place);
    const memo = versionMemoFile === undefined ? undefined : versionMemo(versionMemoFile, found.path);
    const run = startVersionRun(found.path, undefined, env);
    if (memo) {
      run.recalled = memo.recalled;
      void run.output.then(({ error, stdout }) => (error ? memo.forget() : memo.remember(stdout)));
    }
    return { envoyVersion: run };
  } catch {
    return {};
  }
}

/** `--binary-path <path>` → `--binary-path`. */
const flagName = (flags: string): string => flags.split(' ')[0]!;

/** `--flag value` or `--flag=value`, the last one winning as in commander. */
function lastValue(args: readonly string[], flag: string): string | undefined {
  let value: string | undefined;
  args.forEach((arg, i) => {
    if (arg === flag) value = args[i + 1];
    else if (arg.startsWith(`${flag}=`)) value = arg.slice(flag.length + 1);
  });
  return value;
}
