import { spawn } from 'node:child_process';
import { binaryMemo } from './binary-memo.js';
import { findOnPath } from './executables.js';

export interface DeathSignalWrapper {
  /** Prepended to Envoy's command; empty when no wrapper is available. */
  prefix: string[];
  /** Why there is no protection, logged once at start; undefined when protected. */
  unavailableReason: string | undefined;
  /**
   * Set when the answer is the memo's, not a probe's: forgets it, for a setpriv that stopped
   * working in place (a library or a seccomp policy changed, the file did not).
   */
  forgetRecalled?: () => void;
}

/** A probe that has not answered by then is killed, and counts as failed. */
const PROBE_TIMEOUT_MS = 5000;

/** What binary-memo.ts keeps for a setpriv that passed the probe. */
const HAS_PDEATHSIG = 'has --pdeathsig';

/**
 * Node has no prctl(PR_SET_PDEATHSIG). util-linux `setpriv --pdeathsig SIGKILL` sets it and then
 * execs Envoy (same pid), so a SIGKILLed kuma-dp takes Envoy with it (supervisors.md §6.4).
 * setpriv older than util-linux 2.33 (and BusyBox's) has no --pdeathsig: it is tried once, by
 * exec'ing itself, so such a host runs Envoy unwrapped with a warning instead of not at all.
 * With `memoFile`, a setpriv that passed is not tried again while it is the same file, unchanged:
 * the probe's spawn costs every start ~3 ms of the main thread and a process on the other core.
 * One that failed is tried at every start (the failure may have been the moment's: ENOMEM, a
 * timeout). A remembered one is taken at its word for the first start only (run-dataplane.ts):
 * when that Envoy ends or cannot be spawned, it is forgotten and probed again.
 */
export async function deathSignalWrapper(platform: NodeJS.Platform, env: NodeJS.ProcessEnv, memoFile?: string): Promise<DeathSignalWrapper> {
  if (platform !== 'linux') {
    return { prefix: [], unavailableReason: `parent-death signal is Linux-only (platform ${platform})` };
  }
  const setpriv = findOnPath('setpriv', env);
  if (!setpriv) {
    return { prefix: [], unavailableReason: 'setpriv (util-linux) is not on PATH' };
  }
  const prefix = [setpriv, '--pdeathsig', 'SIGKILL', '--'];
  const memo = memoFile === undefined ? undefined : binaryMemo(memoFile, setpriv);
  if (memo?.recalled === HAS_PDEATHSIG) return { prefix, unavailableReason: undefined, forgetRecalled: () => memo.forget() };
  // Only its exit status counts: no pipes to set up and read on the way to Envoy's exec.
  const works = await new Promise<boolean>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const settle = (passed: boolean) => {
      clearTimeout(timer);
      resolve(passed);
    };
    try {
      const probe = spawn(setpriv, [...prefix.slice(1), setpriv, '--version'], { stdio: 'ignore' });
      // Not spawn's own `timeout`: its timer outlives a spawn that fails, and held kuma-dp's exit 5 s.
      timer = setTimeout(() => probe.kill('SIGKILL'), PROBE_TIMEOUT_MS);
      probe.once('error', () => settle(false));
      probe.once('exit', (code) => settle(code === 0));
    } catch {
      // spawn throws for some errors (ENOMEM) instead of emitting them: no wrapper, a warning.
      settle(false);
    }
  });
  if (works) memo?.remember(HAS_PDEATHSIG);
  else memo?.forget();
  return works ? { prefix, unavailableReason: undefined } : { prefix: [], unavailableReason: `${setpriv} does not support --pdeathsig (util-linux 2.33 or later does)` };
}
