import { KumaDpError } from '../../errors.js';

/**
 * The error to surface once the caller's signal has fired. Callers abort with a KumaDpError that
 * carries their exit code (130 for SIGINT, for instance); anything else becomes a generic one.
 */
export function interruption(signal: AbortSignal): KumaDpError {
  const reason: unknown = signal.reason;
  if (reason instanceof KumaDpError) return reason;
  return new KumaDpError('the Envoy install was interrupted; nothing was installed', { exitCode: 130, cause: reason });
}

export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw interruption(signal);
}
