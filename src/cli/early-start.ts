import { join } from 'node:path';
import { BINARY_PATH_SPEC, ENVOY_VERSION_SPEC, envoyWhich, type LookupPlace } from './envoy-which.js';
import { startVersionRun, type VersionRun } from '../envoy/version-run.js';
import { binaryMemo } from '../platform/binary-memo.js';
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
  /** Where whether setpriv has --pdeathsig is remembered (src/platform/pdeathsig.ts), beside the code caches. */
  setprivMemoFile?: string;
}

/** In the launcher's memo directory: what Envoy binaries printed for `--version`, by path. */
export const ENVOY_VERSIONS_FILE = 'envoy-versions.json';
/** In the launcher's memo directory: the setpriv binaries that have --pdeathsig, by path. */
const SETPRIV_PROBES_FILE = 'setpriv-probes.json';

/**
 * The Envoy is guessed from the two flags that choose it and the environment, with `run`'s own
 * lookup. Nothing is reported here: a wrong guess costs one extra `--version` and the CLI runs
 * its own; whatever is wrong with the flags the CLI finds and reports as usual.
 */
export async function startEarly(args: readonly string[], place: LookupPlace, memoDir?: string): Promise<EarlyStart> {
  if (args.includes('--help') || args.includes('-h')) return {};
  const setprivMemoFile = memoDir === undefined ? undefined : join(memoDir, SETPRIV_PROBES_FILE);
  const env = { ...place.env };
  delete env[DATAPLANE_TOKEN_ENV];
  try {
    const found = await envoyWhich(undefined, { binaryPath: lastValue(args, flagName(BINARY_PATH_SPEC.flags!)), envoyVersion: lastValue(args, flagName(ENVOY_VERSION_SPEC.flags!)) }, place);
    // What the same, unchanged binary printed the last time: `run` sends its bootstrap request
    // with it while this --version still runs (src/run/run-dataplane.ts), so start to exec takes
    // the longer of the two instead of their sum. A guess, never the last word: the request is
    // sent again when --version disagrees, and a failing --version fails the run as before. A
    // binary that failed is forgotten: one that cannot run (a missing library, a noexec mount)
    // must not have a request sent on its behalf at every start of a crash loop.
    const memo = memoDir === undefined ? undefined : binaryMemo(join(memoDir, ENVOY_VERSIONS_FILE), found.path);
    const run = startVersionRun(found.path, undefined, env);
    if (memo) {
      run.recalled = memo.recalled;
      void run.output.then(({ error, stdout }) => {
        const line = versionLine(stdout);
        if (error || line === undefined) memo.forget();
        else memo.remember(line);
      });
    }
    return { envoyVersion: run, setprivMemoFile };
  } catch {
    return { setprivMemoFile };
  }
}

/** The line of `--version` output that version.ts reads. */
function versionLine(stdout: string): string | undefined {
  return stdout.split('\n').find((text) => text.includes('version:'))?.trim() || undefined;
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
