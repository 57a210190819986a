import { setTimeout as sleep } from 'node:timers/promises';
import { localRequest, type AdminAddress } from '../envoy/admin.js';
import { ConfigError, ExitCode, KumaDpError } from '../errors.js';
import type { Logger } from '../logging/logger.js';

export interface WaitForReadyOptions {
  /** Default `http://localhost:9901/ready`; the host must be a loopback name. */
  url?: string;
  /** Overrides `url`: GET /ready over this unix socket. */
  unixSocket?: string;
  timeoutMs?: number;
  checkFrequencyMs?: number;
  requestTimeoutMs?: number;
  logger: Logger;
  /** Aborting rejects with the signal's reason. */
  signal?: AbortSignal;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The target of `kuma-dp wait`; a ConfigError for anything that is not plain HTTP on loopback. */
export function waitTarget(options: Pick<WaitForReadyOptions, 'url' | 'unixSocket'>): { address: AdminAddress; path: string } {
  if (options.unixSocket) return { address: { kind: 'unix', path: options.unixSocket }, path: '/ready' };
  const text = options.url ?? 'http://localhost:9901/ready';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(`--url "${text}" is not a valid URL`, { hint: 'use e.g. http://localhost:9901/ready' });
  }
  if (url.protocol !== 'http:') {
    throw new ConfigError(`--url "${text}" must use http`, { hint: 'use e.g. http://localhost:9901/ready' });
  }
  if (!LOOPBACK_HOSTS.has(url.hostname)) {
    throw new ConfigError(`--url host "${url.hostname}" is not local`, {
      hint: 'use localhost, 127.0.0.1 or [::1]; the proxy to wait for runs on this host',
    });
  }
  const host = url.hostname === '[::1]' ? '::1' : url.hostname;
  return { address: { kind: 'tcp', host, port: Number(url.port || 80) }, path: `${url.pathname}${url.search}` };
}

/** `kuma-dp wait`: poll until the data plane proxy answers 200, or fail with exit 1 at the deadline. */
export async function waitForReady(options: WaitForReadyOptions): Promise<void> {
  const { address, path } = waitTarget(options);
  const { logger, signal } = options;
  const timeoutMs = options.timeoutMs ?? 180_000;
  const checkFrequencyMs = options.checkFrequencyMs ?? 1000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 500;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new KumaDpError('timeout occurred while waiting for data plane proxy to be ready', { exitCode: ExitCode.FAILURE });
    }
    try {
      const res = await localRequest(address, 'GET', path, Math.min(requestTimeoutMs, left));
      if (res.status === 200) {
        logger.info('data plane proxy is ready');
        return;
      }
      logger.info('data plane proxy is not ready', { status: res.status, body: res.body.trim() });
    } catch (err) {
      logger.info('data plane proxy is not ready', { err });
    }
    const pause = Math.min(checkFrequencyMs, deadline - Date.now());
    if (pause > 0) {
      try {
        await sleep(pause, undefined, signal ? { signal } : {});
      } catch {
        signal?.throwIfAborted();
      }
    }
  }
}
