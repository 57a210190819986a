import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logging/logger.js';
import { formatDuration } from '../config/duration.js';

/** The part of the admin client the drain needs; real calls in production, the double in tests. */
export interface DrainAdmin {
  healthcheckFail(): Promise<void>;
  drainListeners(query: string): Promise<void>;
  activeDownstreamConnections(): Promise<number>;
}

export type DrainOutcome = 'connections-zero' | 'drain-time' | 'cut-short' | 'envoy-exited';

export interface DrainOptions {
  admin: DrainAdmin | undefined;
  /** The /drain_listeners query for this Envoy version; undefined skips the call. */
  drainQuery: string | undefined;
  minDrainMs: number;
  maxDrainMs: number;
  pollIntervalMs: number;
  /** Aborted by a second signal. */
  cutShort: AbortSignal;
  envoyEnded: Promise<unknown>;
  logger: Logger;
  now?: () => number;
}

/**
 * Takes Envoy out of rotation and waits until nothing is connected, but never less than the
 * minimum (load balancers need time to notice) nor more than the drain time. A failing admin
 * API never shortens the wait (consul-dataplane#1072: a transient error killed Envoy at 0 ms).
 */
export async function drainEnvoy(options: DrainOptions): Promise<DrainOutcome> {
  const now = options.now ?? Date.now;
  const started = now();
  const { admin, logger } = options;
  // One signal for "stop waiting": a second shutdown signal or Envoy's exit (one reaction, not one per poll).
  const envoyExit = new AbortController();
  void options.envoyEnded.then(() => envoyExit.abort());
  const wake = AbortSignal.any([options.cutShort, envoyExit.signal]);

  if (admin) {
    await admin.healthcheckFail().catch((err: Error) => logger.warn('could not fail Envoy health checks; waiting out the drain time', { error: err.message }));
    if (options.drainQuery) {
      await admin
        .drainListeners(options.drainQuery)
        .catch((err: Error) => logger.warn('could not start draining listeners; waiting out the drain time', { error: err.message }));
    }
  }
  logger.info('waiting for connections to be drained', { minDrainTime: formatDuration(options.minDrainMs), drainTime: formatDuration(options.maxDrainMs) });

  let lastCount: number | undefined;
  for (;;) {
    if (options.cutShort.aborted) return 'cut-short';
    if (envoyExit.signal.aborted) return 'envoy-exited';
    const elapsed = now() - started;
    if (elapsed >= options.maxDrainMs) {
      logger.info('drain time is over', { activeConnections: lastCount ?? 'unknown' });
      return 'drain-time';
    }
    if (elapsed >= options.minDrainMs && admin) {
      try {
        lastCount = await admin.activeDownstreamConnections();
        if (lastCount === 0) return 'connections-zero';
      } catch (err) {
        logger.debug('could not read active connections', { error: (err as Error).message });
      }
    }
    const nextPoll = elapsed < options.minDrainMs ? options.minDrainMs - elapsed : options.pollIntervalMs;
    await sleep(Math.max(0, Math.min(nextPoll, options.maxDrainMs - (now() - started))), undefined, { signal: wake }).catch(() => {});
  }
}
