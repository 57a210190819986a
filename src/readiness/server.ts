import http from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AdminAddress } from '../envoy/admin.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logging/logger.js';

export interface ReadinessAnswer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface ReadinessServerOptions {
  host: string;
  /** 0 lets the OS choose (tests); the bound port is returned. */
  port: number;
  logger: Logger;
  /** Decides each answer: TERMINATING, Envoy's own /ready, ... A rejection answers 503 `envoy not ready`. */
  probe: () => Promise<ReadinessAnswer>;
}

export interface ReadinessServer {
  port: number;
  close(): Promise<void>;
}

/** Headers of the probe's answer that describe its own connection or body, not the readiness state. */
const NOT_FORWARDED = new Set(['connection', 'content-length', 'date', 'keep-alive', 'server', 'transfer-encoding']);

function send(res: http.ServerResponse, method: string, answer: ReadinessAnswer): void {
  const body = Buffer.from(answer.body, 'utf8');
  const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8' };
  for (const [name, value] of Object.entries(answer.headers ?? {})) {
    if (!NOT_FORWARDED.has(name.toLowerCase())) headers[name.toLowerCase()] = value;
  }
  headers['cache-control'] = 'no-cache, max-age=0';
  headers['x-powered-by'] = 'kuma-dp';
  headers['content-length'] = body.length;
  res.writeHead(answer.status, headers);
  res.end(method === 'HEAD' ? undefined : body);
}

/**
 * kuma-dp's readiness reporter: the exact path `/ready` only (subpaths and everything else 404),
 * so nothing of Envoy's admin API is reachable through this port.
 */
export function startReadinessServer(options: ReadinessServerOptions): Promise<ReadinessServer> {
  const { host, port, logger, probe } = options;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/ready') {
      send(res, req.method ?? 'GET', { status: 404, body: '404 page not found\n' });
      return;
    }
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      send(res, method, { status: 405, body: 'method not allowed\n', headers: { allow: 'GET, HEAD' } });
      return;
    }
    // Through a promise chain, so that a probe throwing synchronously also answers 503.
    Promise.resolve()
      .then(probe)
      .then(
        (answer) => send(res, method, answer),
        (err: unknown) => {
          logger.debug('readiness probe failed', { err });
          send(res, method, { status: 503, body: 'envoy not ready' });
        },
      );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(host, port, err)));
    server.listen({ host, port }, () => {
      const bound = server.address();
      const boundPort = typeof bound === 'object' && bound ? bound.port : port;
      logger.debug('readiness reporter listening', { address: host, port: boundPort });
      resolve({
        port: boundPort,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/**
 * The readiness listener's address (reference/kuma-dp.md §5.4): next to a TCP admin API on its
 * address; with admin on a unix socket, reachable from the kubelet (all interfaces) only inside a
 * pod (`POD_NAME` set), loopback otherwise. The IPv6 forms follow the data plane's own address.
 */
export function readinessHost(env: NodeJS.ProcessEnv, admin: AdminAddress, dataplaneAddress?: string): string {
  if (admin.kind === 'tcp') return admin.host;
  const ipv6 = dataplaneAddress !== undefined && isIpv6Literal(dataplaneAddress);
  if (env.POD_NAME) return ipv6 ? '::' : '0.0.0.0';
  return ipv6 ? '::1' : '127.0.0.1';
}

/**
 * Only an IPv6 literal has a colon (an IPv4 address or a host name never does). Not net.isIPv6:
 * its first call compiles a regular expression that costs ~9 ms on the way to Envoy's exec.
 */
function isIpv6Literal(address: string): boolean {
  return address.includes(':');
}

/** Where the reporter will most likely bind, for the early port check (the admin address is not known yet). */
export function readinessProbeHost(env: NodeJS.ProcessEnv): string {
  return env.POD_NAME ? '0.0.0.0' : '127.0.0.1';
}

/** The one line for a readiness port that cannot be bound, from the early check or the reporter itself. */
function listenError(host: string, port: number, err: NodeJS.ErrnoException): ConfigError {
  const where = `${isIpv6Literal(host) ? `[${host}]` : host}:${port}`;
  const hint = 'free the port or choose another one with KUMA_READINESS_PORT';
  return err.code === 'EADDRINUSE'
    ? new ConfigError(`readiness port ${port} is already in use on ${where}`, { hint, cause: err })
    : new ConfigError(`cannot listen for readiness on ${where}: ${err.code ?? err.message}`, { hint, cause: err });
}

/** Binds and releases the port: a taken readiness port is reported before any network call. */
export function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', (err: NodeJS.ErrnoException) => reject(listenError(host, port, err)));
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}
