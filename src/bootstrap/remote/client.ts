import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../../config/duration.js';
import { ConfigError, ExitCode, KumaDpError } from '../../errors.js';
import { parseCaBundle } from '../ca-bundle.js';
import { Logger } from '../../logging/logger.js';
import { requireBuiltin } from '../../platform/require-builtin.js';
import { readText, sendPost, type Transport } from './post.js';

export const DP_NOT_FOUND_MESSAGE =
  'Dataplane entity not found. If you are running on Universal please create a Dataplane entity on kuma-cp before starting kuma-dp or pass it to kuma-dp run --dataplane-file=/file. If you are running on Kubernetes, please check the kuma-cp logs to determine why the Dataplane entity could not be created by the automatic sidecar injection.';
export const NO_BOOTSTRAP_ENDPOINT_MESSAGE =
  'There is no /bootstrap endpoint for provided CP address. Double check if the address passed to the CP has a DP Server port (5678 by default), not HTTP API (5681 by default)';
export const DP_NOT_YET_FOUND_LOG =
  'Dataplane entity is not yet found in the Control Plane. If you are running on Kubernetes, the control plane is most likely still in the process of converting Pod to Dataplane. If it takes too long, check pod events and control plane logs to see possible cause. Retrying.';
const RETRYING_LOG =
  "could not fetch bootstrap configuration, make sure you are not trying to connect to global-cp. retrying (this could help only if you're connecting to zone-cp).";
/** go-restful's body for an unknown route: the address points at the CP's HTTP API, not its DP server. */
const PAGE_NOT_FOUND_BODY = '404: Page Not Found';

const DEFAULT_RETRY_BACKOFF_MS = 3_000;
const DEFAULT_RETRY_MAX_DURATION_MS = 5 * 60_000;
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface FetchBootstrapOptions {
  /** --cp-address; its path is replaced by /bootstrap. */
  cpAddress: string | URL;
  /** Builds the JSON body for one attempt; called again on every retry so the token is re-read. */
  buildBody: () => Promise<string>;
  /** PEM of --ca-cert-file / KUMA_CONTROL_PLANE_CA_CERT: then the only trusted root. */
  caCertPem?: string | undefined;
  /** --skip-verify: no certificate verification at all (logged as a warning). */
  skipVerify?: boolean | undefined;
  retryBackoffMs?: number | undefined;
  /** Counted from the first attempt; the last wait is shortened to fit. */
  retryMaxDurationMs?: number | undefined;
  requestTimeoutMs?: number | undefined;
  /** Aborting ends the loop at once, mid-request or mid-wait, with BootstrapAborted. */
  signal?: AbortSignal | undefined;
  logger?: Logger | undefined;
  /** Only for the per-attempt log line, as kuma-dp logs them. */
  features?: readonly string[] | undefined;
  /** Called when a request has been sent: work of the caller's own can run while the control plane answers. */
  onRequestSent?: (() => void) | undefined;
}

/** kumaSidecarConfiguration of the bootstrap response; every part may be missing. */
export interface KumaSidecarConfiguration {
  networking?: { address?: string; [key: string]: unknown };
  metrics?: { aggregate?: unknown[] | null; [key: string]: unknown };
  [key: string]: unknown;
}

export interface BootstrapResponse {
  /** The Envoy bootstrap, YAML text decoded from the response's base64 `bootstrap`. */
  bootstrapYaml: string;
  sidecar: KumaSidecarConfiguration;
}

/**
 * The fetch was cancelled through `signal` (a shutdown we ran), so exit code 0 per DESIGN §3;
 * callers tell it apart from a failure with `instanceof`.
 */
export class BootstrapAborted extends KumaDpError {
  constructor(address: string) {
    super(`fetching the Envoy bootstrap config from ${address} was cancelled`, { exitCode: ExitCode.OK });
    this.name = 'BootstrapAborted';
  }
}

type Outcome =
  | { kind: 'ok'; text: string }
  | { kind: 'retry'; message: string; tls?: boolean }
  | { kind: 'not-found' }
  | { kind: 'fatal'; message: string; hint?: string };

/** The CP address without credentials or path, for messages. */
function displayAddress(url: URL): string {
  return url.origin;
}

function bootstrapUrl(cpAddress: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(cpAddress));
  } catch {
    throw new ConfigError(`the control plane address "${String(cpAddress)}" is not a URL`, {
      hint: 'set --cp-address (KUMA_CONTROL_PLANE_URL) to e.g. https://kuma-cp:5678',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`the control plane address ${url.origin === 'null' ? url.href : url.origin} must use http or https`, {
      hint: 'set --cp-address (KUMA_CONTROL_PLANE_URL) to e.g. https://kuma-cp:5678',
    });
  }
  url.pathname = '/bootstrap';
  return url;
}

/**
 * node:http itself, not node-fetch (which install downloads use): node-fetch loads https, TLS,
 * zlib and web streams whatever the address, and its first request takes ~10 ms longer, all on
 * the way to Envoy's exec. TLS is loaded only for an https control plane.
 */
function makeTransport(url: URL, options: FetchBootstrapOptions): Transport {
  if (url.protocol === 'http:') return { request: http.request, agent: new http.Agent({ keepAlive: false }) };
  const ca = options.caCertPem ? parseCaBundle(options.caCertPem) : undefined;
  const https = requireBuiltin<typeof import('node:https')>('node:https');
  return {
    request: https.request,
    agent: new https.Agent({
      keepAlive: false,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: !options.skipVerify,
      ...(ca ? { ca } : {}),
    }),
  };
}

const TLS_ERROR = /CERT|SSL|TLS|UNABLE_TO_VERIFY|SELF_SIGNED|ALTNAME|EPROTO/i;

function describeRequestError(err: unknown, timedOut: boolean, timeoutMs: number): { message: string; tls: boolean } {
  if (timedOut) return { message: `no answer within ${formatDuration(timeoutMs)} (timeout)`, tls: false };
  if (!(err instanceof Error)) return { message: String(err), tls: false };
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return { message: err.message, tls: TLS_ERROR.test(code) || TLS_ERROR.test(err.message) };
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

async function attempt(url: URL, transport: Transport, options: FetchBootstrapOptions, timeoutMs: number): Promise<Outcome> {
  let body: string;
  try {
    body = await options.buildBody();
  } catch (err) {
    if (err instanceof KumaDpError) throw err;
    return { kind: 'retry', message: `could not build the bootstrap request: ${(err as Error).message ?? String(err)}` };
  }
  // A shutdown while the body was built (it reads the token file): nothing is sent.
  if (options.signal?.aborted) throw options.signal.reason;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let response: http.IncomingMessage;
  try {
    response = await sendPost(transport, url, body, signal, options.onRequestSent);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    const { message, tls } = describeRequestError(err, timeout.aborted, timeoutMs);
    return { kind: 'retry', message: `request to bootstrap server failed: ${message}`, tls };
  }
  const status = response.statusCode ?? 0;
  options.logger?.debug('bootstrap response', { status });

  let text: string;
  try {
    text = await readText(response);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    const { message } = describeRequestError(err, timeout.aborted, timeoutMs);
    return status === 200
      ? { kind: 'retry', message: `could not read the body of the response: ${message}` }
      : {
          kind: 'retry',
          message: `Unable to read the response with status code: ${status}. Make sure you are using https URL: ${message}`,
        };
  }
  if (status === 200) return { kind: 'ok', text };
  if (status === 404 && text === '') return { kind: 'not-found' };
  if (status === 404 && text === PAGE_NOT_FOUND_BODY) return { kind: 'retry', message: NO_BOOTSTRAP_ENDPOINT_MESSAGE };
  if (status >= 400 && status < 500) {
    const plainToTls = /HTTP request to an HTTPS server/i.test(text);
    return {
      kind: 'fatal',
      // A misrouted request can get a whole HTML page back; the line stays readable. A server that
      // echoes the request would echo the token: it never reaches the line.
      message: `Invalid request: ${truncate(withoutToken(text.trim(), body), 500)}`,
      ...(plainToTls ? { hint: 'the control plane serves https on this port; use https:// in --cp-address' } : {}),
    };
  }
  if (status >= 300 && status < 400) {
    // kuma-cp's DP server never redirects; something in front of it does, and a POST that follows
    // a redirect can lose its body: the address is to be fixed, not the redirect followed.
    // The target as the server wrote it, so bounded and without the token like any quoted answer.
    const location = response.headers.location && truncate(withoutToken(response.headers.location, body), 200);
    return {
      kind: 'retry',
      message: `unexpected status code: ${status}, a redirect${location ? ` to ${location}` : ''}; kuma-dp does not follow redirects, point --cp-address at the DP server itself`,
    };
  }
  return { kind: 'retry', message: `unexpected status code: ${status}` };
}

/** The text with the request's dataplane token, and each long piece of it, replaced. */
function withoutToken(text: string, requestBody: string): string {
  let token: unknown;
  try {
    token = (JSON.parse(requestBody) as { dataplaneToken?: unknown }).dataplaneToken;
  } catch {
    return text;
  }
  if (typeof token !== 'string' || token === '') return text;
  const pieces = [token, ...token.split('.').filter((piece) => piece.length >= 8)];
  return pieces.reduce((redacted, piece) => redacted.replaceAll(piece, '[token]'), text);
}

function decodeResponse(text: string, address: string): BootstrapResponse {
  const fail = (what: string) =>
    new KumaDpError(`Failed to fetch Envoy bootstrap config from ${address}: ${what}`, {
      hint: 'check that --cp-address points at the DP server port (5678) of a Kuma control plane',
    });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // JSON.parse quotes the input in its message, and the bootstrap may carry the token.
    throw fail('the response is not JSON');
  }
  const response = parsed as { bootstrap?: unknown; kumaSidecarConfiguration?: unknown } | null;
  if (typeof response?.bootstrap !== 'string' || response.bootstrap === '') {
    throw fail('the response has no "bootstrap" field');
  }
  const sidecar = response.kumaSidecarConfiguration;
  return {
    bootstrapYaml: Buffer.from(response.bootstrap, 'base64').toString('utf8'),
    sidecar: typeof sidecar === 'object' && sidecar !== null ? (sidecar as KumaSidecarConfiguration) : {},
  };
}

function exhaustedHint(last: Outcome): string | undefined {
  if (last.kind === 'not-found') return undefined;
  if (last.kind === 'retry' && last.tls) {
    return 'give the CA that signed the control plane certificate with --ca-cert-file or KUMA_CONTROL_PLANE_CA_CERT (or --skip-verify for development)';
  }
  if (last.kind === 'retry' && last.message === NO_BOOTSTRAP_ENDPOINT_MESSAGE) return undefined;
  return 'check that --cp-address (KUMA_CONTROL_PLANE_URL) reaches the DP server of a zone control plane; KUMA_CONTROL_PLANE_RETRY_MAX_DURATION sets how long to keep trying';
}

/**
 * kuma-dp's bootstrap handshake: POST the request to `<cp>/bootstrap` until the control plane
 * answers 200, retrying connection errors, 404s and 5xx with a constant backoff within a maximum
 * duration, giving up at once on any other 4xx. Never logs the body or the token.
 */
export async function fetchBootstrap(options: FetchBootstrapOptions): Promise<BootstrapResponse> {
  const url = bootstrapUrl(options.cpAddress);
  const address = displayAddress(url);
  const backoffMs = options.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS;
  const maxDurationMs = options.retryMaxDurationMs ?? DEFAULT_RETRY_MAX_DURATION_MS;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const log = options.logger ?? Logger.silent();
  const transport = makeTransport(url, options);
  if (url.protocol === 'https:' && options.skipVerify) {
    log.warn(
      '[WARNING] The data plane proxy cannot verify the identity of the control plane because --skip-verify (KUMA_CONTROL_PLANE_TLS_SKIP_VERIFY) is set',
    );
  }

  const aborted = () => new BootstrapAborted(address);
  const started = performance.now();
  try {
    for (let attemptNo = 1; ; attemptNo++) {
      if (options.signal?.aborted) throw aborted();
      log.info('trying to fetch bootstrap configuration from the Control Plane', {
        address,
        attempt: attemptNo,
        ...(options.features ? { features: options.features } : {}),
      });
      let outcome: Outcome;
      try {
        outcome = await attempt(url, transport, options, timeoutMs);
      } catch (err) {
        if (options.signal?.aborted && !(err instanceof KumaDpError)) throw aborted();
        throw err;
      }
      if (outcome.kind === 'ok') return decodeResponse(outcome.text, address);
      if (outcome.kind === 'fatal') {
        throw new KumaDpError(`Failed to fetch Envoy bootstrap config from ${address}: ${outcome.message}`, {
          exitCode: ExitCode.FAILURE,
          ...(outcome.hint ? { hint: outcome.hint } : {}),
        });
      }

      const reason = outcome.kind === 'not-found' ? DP_NOT_FOUND_MESSAGE : outcome.message;
      const remainingMs = maxDurationMs - (performance.now() - started);
      if (remainingMs <= 0) {
        const hint = exhaustedHint(outcome);
        throw new KumaDpError(`Failed to fetch Envoy bootstrap config from ${address}: ${reason}`, {
          exitCode: ExitCode.FAILURE,
          ...(hint ? { hint } : {}),
        });
      }
      const backoff = formatDuration(backoffMs);
      if (outcome.kind === 'not-found') log.info(DP_NOT_YET_FOUND_LOG, { backoff });
      else log.info(RETRYING_LOG, { backoff, err: reason });
      try {
        await sleep(Math.min(backoffMs, remainingMs), undefined, options.signal ? { signal: options.signal } : {});
      } catch (err) {
        if (isAbort(err)) throw aborted();
        throw err;
      }
    }
  } finally {
    transport.agent.destroy();
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}
