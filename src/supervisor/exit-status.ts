import { constants } from 'node:os';
import type { EnvoyEnd } from './restart-policy.js';

export function signalNumber(signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 0;
}

/** DESIGN.md §3: Envoy's own code, or 128+n when a signal killed it (the tini/dumb-init convention). */
export function exitCodeForEnvoyEnd(end: EnvoyEnd): number {
  if (end.signal) return 128 + signalNumber(end.signal);
  return end.code ?? 1;
}

export function describeEnvoyEnd(end: EnvoyEnd): string {
  if (end.signal) return `killed by ${end.signal}`;
  return `exited with code ${end.code}`;
}
