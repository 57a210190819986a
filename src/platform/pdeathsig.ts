import { findOnPath } from './executables.js';

export interface DeathSignalWrapper {
  /** Prepended to Envoy's command; empty when no wrapper is available. */
  prefix: string[];
  /** Why there is no protection, logged once at start; undefined when protected. */
  unavailableReason: string | undefined;
}

/**
 * Node has no prctl(PR_SET_PDEATHSIG). util-linux `setpriv --pdeathsig SIGKILL` sets it and then
 * execs Envoy (same pid), so a SIGKILLed kuma-dp takes Envoy with it (supervisors.md §6.4).
 */
export function deathSignalWrapper(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): DeathSignalWrapper {
  if (platform !== 'linux') {
    return { prefix: [], unavailableReason: `parent-death signal is Linux-only (platform ${platform})` };
  }
  const setpriv = findOnPath('setpriv', env);
  if (!setpriv) {
    return { prefix: [], unavailableReason: 'setpriv (util-linux) is not on PATH' };
  }
  return { prefix: [setpriv, '--pdeathsig', 'SIGKILL', '--'], unavailableReason: undefined };
}
