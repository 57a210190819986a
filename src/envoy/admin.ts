import http from 'node:http';
import { supportsDrainSkipExit } from './version.js';
import { isRecord } from '../util/is-record.js';

/** Where Envoy's admin API listens: a TCP address or a unix socket (`admin.address.pipe`). */
export type AdminAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface AdminResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

export interface StatValue {
  name: string;
  value: number;
}

/** A non-200 answer from a mutating or JSON admin endpoint. */
export class AdminRequestError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`Envoy admin ${method} ${path} answered ${status}: ${body.trim().slice(0, 200) || '(empty body)'}`);
    this.name = 'AdminRequestError';
  }
}

function record(value: unknown): Record<string, unknown> | undefined {
  return isRecord(value) ? value : undefined;
}

/** proto3 JSON (and so a bootstrap in YAML or JSON) accepts both the snake_case and the camelCase field name. */
function field(obj: Record<string, unknown> | undefined, snake: string): unknown {
  if (!obj) return undefined;
  if (obj[snake] !== undefined) return obj[snake];
  return obj[snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())];
}

/** Reads `admin.address` from a parsed bootstrap document; undefined when it names neither a socket address nor a pipe. */
export function adminAddressFromBootstrap(doc: unknown): AdminAddress | undefined {
  const address = record(field(record(field(record(doc), 'admin')), 'address'));
  const pipePath = field(record(field(address, 'pipe')), 'path');
  if (typeof pipePath === 'string' && pipePath !== '') return { kind: 'unix', path: pipePath };
  const socket = record(field(address, 'socket_address'));
  const host = field(socket, 'address');
  const rawPort = field(socket, 'port_value');
  const port = typeof rawPort === 'string' && /^\d+$/.test(rawPort) ? Number(rawPort) : rawPort;
  if (typeof host !== 'string' || host === '' || typeof port !== 'number' || !Number.isInteger(port)) return undefined;
  return { kind: 'tcp', host, port };
}

export function describeAdminAddress(address: AdminAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * One HTTP exchange with a local endpoint (Envoy's admin API, or a readiness port), bounded by
 * `timeoutMs` from start to the last body byte. Non-2xx answers resolve; only transport failures reject.
 */
export function localRequest(
  address: AdminAddress,
  method: 'GET' | 'POST',
  path: string,
  timeoutMs: number,
): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const target = address.kind === 'unix' ? { socketPath: address.path } : { host: address.host, port: address.port };
    // A fresh connection per call: polls are rare, and no idle keep-alive socket outlives the caller.
    const req = http.request({ ...target, method, path, agent: false, headers: { host: 'localhost' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers });
      });
    });
    const where = describeAdminAddress(address);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(new Error(`${method} ${path} on ${where} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }));
    }
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs}ms`)), timeoutMs);
    req.on('error', fail);
    req.end();
  });
}

/** `name: value` lines of `/stats` in its default text format; histogram and text lines are skipped. */
export function parseTextStats(body: string): StatValue[] {
  const stats: StatValue[] = [];
  for (const line of body.split('\n')) {
    const match = /^(\S+): (-?\d+(?:\.\d+)?)$/.exec(line.trim());
    if (match) stats.push({ name: match[1]!, value: Number(match[2]) });
  }
  return stats;
}

/** `{"stats":[{"name":..,"value":..},...,{"histograms":..}]}` from `/stats?format=json`. */
function parseJsonStats(body: string): StatValue[] {
  const doc = record(JSON.parse(body));
  const entries = Array.isArray(doc?.stats) ? (doc.stats as unknown[]) : [];
  const stats: StatValue[] = [];
  for (const entry of entries) {
    const item = record(entry);
    if (typeof item?.name === 'string' && typeof item.value === 'number') stats.push({ name: item.name, value: item.value });
  }
  return stats;
}

const LISTENER_CX_ACTIVE = /^listener\.(.+)\.downstream_cx_active$/;

/**
 * Open downstream connections over the non-admin listeners. The admin listener's gauge would keep
 * a drain from ever reaching zero (our own poll is one of its connections), and
 * `listener.X.worker_N.downstream_cx_active` repeats per worker what `listener.X.` already totals.
 */
export function sumActiveConnections(stats: readonly StatValue[]): number {
  let total = 0;
  for (const { name, value } of stats) {
    const match = LISTENER_CX_ACTIVE.exec(name);
    if (!match) continue;
    const listener = match[1]!;
    if (listener === 'admin' || listener.startsWith('admin.')) continue;
    if (/(^|\.)worker_\d+$/.test(listener)) continue;
    total += value;
  }
  return total;
}

const ACTIVE_CX_STATS_PATH = `/stats?filter=${encodeURIComponent('^listener\\..*\\.downstream_cx_active$')}&format=json`;

/**
 * The `/drain_listeners` query for a drain that leaves stopping Envoy to us, or undefined when no
 * such query exists for this Envoy.
 *
 * Why: `graceful` alone makes Envoy stop the listeners (refuse new connections) once
 * `--drain-time-s` has passed; only `skip_exit` (Envoy 1.27+, envoyproxy/envoy#30003) turns that
 * off, and without `graceful` the listeners stop at once. Older Envoys ignore the unknown
 * `skip_exit`, so every query there ends with stopped listeners while we may still be waiting
 * (SIGUSR2 drains "forever", a drain wait can outlast Envoy's timer). On those versions the caller
 * must rely on POST `/healthcheck/fail` alone, which already makes every listener with
 * `drain_type: DEFAULT` drain-close its connections and never stops a listener.
 */
export function drainQuery(envoyVersion: string, options: { inboundOnly: boolean }): string | undefined {
  if (!supportsDrainSkipExit(envoyVersion)) return undefined;
  return options.inboundOnly ? 'inboundonly&graceful&skip_exit' : 'graceful&skip_exit';
}

export interface AdminClientOptions {
  /** Bound on each call, connection to last byte. */
  timeoutMs?: number;
}

/** The few admin endpoints a supervisor uses (reference/envoy-contract.md §D). Mutations are POSTs. */
export class AdminClient {
  private readonly timeoutMs: number;

  constructor(
    readonly address: AdminAddress,
    options: AdminClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** Envoy's `/ready` answer as is: 200 `LIVE`, or 503 with the state name. */
  ready(): Promise<AdminResponse> {
    return localRequest(this.address, 'GET', '/ready', this.timeoutMs);
  }

  async healthcheckFail(): Promise<void> {
    await this.expectOk('POST', '/healthcheck/fail');
  }

  /** `query` without the leading `?`, e.g. from drainQuery(). */
  async drainListeners(query: string): Promise<void> {
    await this.expectOk('POST', query ? `/drain_listeners?${query}` : '/drain_listeners');
  }

  async activeDownstreamConnections(): Promise<number> {
    const body = await this.expectOk('GET', ACTIVE_CX_STATS_PATH);
    let stats: StatValue[];
    try {
      stats = parseJsonStats(body);
    } catch {
      // A build that ignores format=json answers in text; the numbers are the same.
      stats = parseTextStats(body);
    }
    return sumActiveConnections(stats);
  }

  private async expectOk(method: 'GET' | 'POST', path: string): Promise<string> {
    const res = await localRequest(this.address, method, path, this.timeoutMs);
    if (res.status !== 200) throw new AdminRequestError(method, path, res.status, res.body);
    return res.body;
  }
}
