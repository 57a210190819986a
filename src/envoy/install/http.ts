import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Agent } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import fetch, { type Response } from 'node-fetch';
import { getProxyForUrl } from 'proxy-from-env';
import { formatDuration } from '../../config/duration.js';
import { KumaDpError } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import { buildInfo } from '../../version.js';
import { interruption, throwIfInterrupted } from './interrupt.js';
import type { DownloadTuning } from './options.js';
import { cacheWriteError } from './cache.js';

export interface HttpContext {
  tuning: DownloadTuning;
  logger: Logger;
  signal?: AbortSignal | undefined;
}

/** The server answered 404: the caller knows what was missing (a version, a checksum file). */
export class NotFoundError extends Error {
  constructor(readonly url: string) {
    super(`${url} returned 404 Not Found`);
    this.name = 'NotFoundError';
  }
}

/** A failure worth another attempt: a timeout, a 5xx, a cut connection. */
class TransientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientError';
  }
}

/** A definitive answer that retrying will not change (4xx other than 404 and 408/429). */
class PermanentError extends Error {}

/** Socket and name-resolution failures; a local file error (ENOSPC, EACCES...) is not one of them. */
const NETWORK_CODES =
  /^(ECONNRESET|ECONNREFUSED|ECONNABORTED|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|EHOSTDOWN|ENETUNREACH|ENETDOWN|EPROTO|ERR_STREAM_PREMATURE_CLOSE|UND_ERR_\w+)$/;

function retryable(err: unknown): boolean {
  if (err instanceof TransientError) return true;
  const e = err as { type?: string; code?: string };
  return e?.type === 'system' || (typeof e?.code === 'string' && NETWORK_CODES.test(e.code));
}

/** HTTPS_PROXY/HTTP_PROXY/NO_PROXY as curl reads them; redirects get their own decision. */
function agentFor(url: URL, logger: Logger): Agent | undefined {
  const proxy = getProxyForUrl(url.href);
  if (!proxy) return undefined;
  logger.debug('using a proxy', { url: url.href, proxy: new URL(proxy).origin });
  return url.protocol === 'https:' ? new HttpsProxyAgent(proxy) : new HttpProxyAgent(proxy);
}

function describe(err: unknown): string {
  const e = err as Error & { code?: string };
  if (e?.name === 'AbortError' || !(e instanceof Error)) return String(e?.message ?? e);
  return e.message.replace(/^request to \S+ failed, reason: /, '') || e.code || e.name;
}

/**
 * One attempt: GET `url`, hand each body chunk to `sink`. The connect timer runs until the
 * response headers arrive; the idle timer restarts with every chunk, so a slow but moving
 * download never times out while a stalled one does.
 */
async function attempt(
  url: string,
  ctx: HttpContext,
  onResponse: (total: number | undefined) => void,
  sink: (chunk: Buffer) => Promise<void> | void,
): Promise<void> {
  const { tuning, logger } = ctx;
  const host = new URL(url).host;
  const timeouts = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, timeouts.signal]) : timeouts.signal;
  let timer = setTimeout(
    () => timeouts.abort(new TransientError(`no response from ${host} within ${formatDuration(tuning.connectTimeoutMs)}`)),
    tuning.connectTimeoutMs,
  );
  const armIdle = (): void => {
    clearTimeout(timer);
    timer = setTimeout(
      () => timeouts.abort(new TransientError(`the download from ${host} stalled: no data for ${formatDuration(tuning.idleTimeoutMs)}`)),
      tuning.idleTimeoutMs,
    );
  };
  try {
    let res: Response;
    try {
      res = await fetch(url, {
        agent: (parsed) => agentFor(parsed, logger),
        signal,
        compress: false,
        headers: { 'user-agent': `kuma-dp/${buildInfo().version}`, 'accept-encoding': 'identity' },
      });
    } catch (err) {
      throw timeouts.signal.aborted ? timeouts.signal.reason : err;
    }
    if (res.status === 404) throw new NotFoundError(url);
    if (res.status >= 500 || res.status === 408 || res.status === 429) {
      throw new TransientError(`${url} returned ${res.status} ${res.statusText}`);
    }
    if (!res.ok || !res.body) throw new PermanentError(`${url} returned ${res.status} ${res.statusText}`);
    const length = res.headers.get('content-length');
    const total = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    onResponse(total);
    armIdle();
    let received = 0;
    try {
      for await (const chunk of res.body) {
        armIdle();
        received += (chunk as Buffer).length;
        await sink(chunk as Buffer);
      }
    } catch (err) {
      throw timeouts.signal.aborted ? timeouts.signal.reason : err;
    }
    if (total !== undefined && received !== total) {
      throw new TransientError(`the connection to ${host} closed after ${received} of ${total} bytes`);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Retries network errors, timeouts and 5xx with exponential backoff and jitter; never a 404. */
async function withRetries(url: string, ctx: HttpContext, run: () => Promise<void>): Promise<void> {
  const { tuning, logger, signal } = ctx;
  for (let attemptNo = 1; ; attemptNo++) {
    try {
      return await run();
    } catch (err) {
      throwIfInterrupted(signal);
      if (err instanceof NotFoundError || err instanceof KumaDpError) throw err;
      if (!retryable(err) || attemptNo > tuning.retries) {
        const tries = attemptNo === 1 ? '' : ` after ${attemptNo} attempts`;
        throw new KumaDpError(`downloading ${url} failed${tries}: ${describe(err)}`, {
          hint: 'check the network, HTTPS_PROXY/HTTP_PROXY/NO_PROXY, and --download-base-url or --envoy-versions-url',
          cause: err,
        });
      }
      const delay = Math.round(tuning.retryBackoffMs * 2 ** (attemptNo - 1) * (0.8 + Math.random() * 0.4));
      logger.warn('download failed, retrying', { url, error: describe(err), attempt: attemptNo, retryIn: formatDuration(delay) });
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        throw interruption(signal!);
      }
    }
  }
}

/** A small document (checksums, versions index), refused beyond `maxBytes`. */
export async function fetchText(url: string, ctx: HttpContext, maxBytes = 16 << 20): Promise<string> {
  let chunks: Buffer[] = [];
  await withRetries(url, ctx, () => {
    chunks = [];
    let size = 0;
    return attempt(
      url,
      ctx,
      (total) => {
        if (total !== undefined && total > maxBytes) throw new PermanentError(`${url} is ${total} bytes, more than the ${maxBytes} expected`);
      },
      (chunk) => {
        size += chunk.length;
        if (size > maxBytes) throw new PermanentError(`${url} is larger than the ${maxBytes} bytes expected`);
        chunks.push(chunk);
      },
    );
  });
  return Buffer.concat(chunks).toString('utf8');
}

export interface Progress {
  start(total: number | undefined): void;
  advance(bytes: number): void;
}

/**
 * Streams `url` into `dest` (created or truncated per attempt), hashing on the way, so the sum
 * is known the moment the last byte is on disk. Returns the lower-case hex sha256.
 */
export async function downloadFile(url: string, dest: string, ctx: HttpContext, progress: Progress): Promise<{ sha256: string; bytes: number }> {
  let result = { sha256: '', bytes: 0 };
  await withRetries(url, ctx, async () => {
    let fd: number;
    try {
      fd = openSync(dest, 'w', 0o600);
    } catch (err) {
      throw cacheWriteError(dest, err as NodeJS.ErrnoException);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      await attempt(url, ctx, (total) => progress.start(total), (chunk) => {
        hash.update(chunk);
        bytes += chunk.length;
        // Synchronous: a page-cache write of one chunk is cheaper than a thread-pool round trip
        // per chunk, which made a 60 MB install half again as slow as curl + sha256sum.
        try {
          writeSync(fd, chunk);
        } catch (err) {
          throw cacheWriteError(dest, err as NodeJS.ErrnoException);
        }
        progress.advance(chunk.length);
      });
    } finally {
      closeSync(fd);
    }
    result = { sha256: hash.digest('hex'), bytes };
  });
  return result;
}
