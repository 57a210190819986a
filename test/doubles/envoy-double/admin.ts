import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EnvoyOptions, LogLevel } from './argv.js';
import { LOG_LEVELS } from './argv.js';
import type { RecordEventInput } from '../envoy-record.js';

export type ServerState = 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';

/** envoy.admin.v3.ServerInfo.State numbers, as exported by the `server.state` gauge. */
const STATE_NUMBER: Record<ServerState, number> = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2, INITIALIZING: 3 };

/** What the admin API reads and mutates; the lifecycle in envoy-double.ts drives `init`. */
export class EnvoyState {
  init: 'PRE_INITIALIZING' | 'INITIALIZING' | 'INITIALIZED' = 'PRE_INITIALIZING';
  healthFailed = false;
  adminConnections = 0;
  adminConnectionsTotal = 0;
  drainRequested = false;
  readonly startedAt = Date.now();
  /** Simulated `listener.<name>.downstream_cx_active` values, keyed by <name>. */
  readonly connections = new Map<string, number>();

  get serverState(): ServerState {
    if (this.init !== 'INITIALIZED') return this.init;
    return this.healthFailed ? 'DRAINING' : 'LIVE';
  }
}

/** Accepts `listener.X`, `listener.X.downstream_cx_active` or plain `X`. */
export function listenerKey(name: string): string {
  return name.replace(/^listener\./, '').replace(/\.downstream_cx_active$/, '');
}

export function collectStats(state: EnvoyState, workers: number): [string, number][] {
  const stats: [string, number][] = [];
  let total = 0;
  for (const [name, value] of state.connections) {
    total += value;
    stats.push([`listener.${name}.downstream_cx_active`, value]);
    for (let w = 0; w < workers; w++) stats.push([`listener.${name}.worker_${w}.downstream_cx_active`, w === 0 ? value : 0]);
  }
  const uptime = Math.floor((Date.now() - state.startedAt) / 1000);
  stats.push(
    ['listener.admin.downstream_cx_active', state.adminConnections],
    ['listener.admin.downstream_cx_total', state.adminConnectionsTotal],
    ['listener_manager.total_listeners_active', state.connections.size],
    ['listener_manager.total_listeners_draining', 0],
    ['server.concurrency', workers],
    ['server.hot_restart_epoch', 0],
    ['server.live', state.serverState === 'LIVE' ? 1 : 0],
    ['server.parent_connections', 0],
    ['server.state', STATE_NUMBER[state.serverState]],
    ['server.total_connections', total],
    ['server.uptime', uptime],
  );
  return stats.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Prometheus names with Envoy's default tag extraction for the listener stats we export. */
function prometheus(stats: [string, number][]): string {
  const byName = new Map<string, string[]>();
  for (const [name, value] of stats) {
    let metric = name;
    const labels: string[] = [];
    const worker = /^listener\.(.+)\.worker_(\d+)\.(\w+)$/.exec(name);
    const listener = /^listener\.(.+)\.(\w+)$/.exec(name);
    if (worker) {
      metric = `listener.worker.${worker[3]}`;
      labels.push(`envoy_listener_address="${worker[1]}"`, `envoy_worker_id="${worker[2]}"`);
    } else if (listener && !name.startsWith('listener.admin.')) {
      metric = `listener.${listener[2]}`;
      labels.push(`envoy_listener_address="${listener[1]}"`);
    }
    const promName = `envoy_${metric.replace(/[^a-zA-Z0-9_]/g, '_')}`;
    const series = byName.get(promName) ?? [];
    series.push(`${promName}${labels.length ? `{${labels.join(',')}}` : ''} ${value}`);
    byName.set(promName, series);
  }
  return [...byName].map(([name, series]) => `# TYPE ${name} gauge\n${series.join('\n')}\n`).join('');
}

export interface AdminDeps {
  state: EnvoyState;
  options: EnvoyOptions;
  /** The whole build string, e.g. `<sha>/1.34.1/Clean/RELEASE/BoringSSL`. */
  build: string;
  /** The release, e.g. `1.34.1`. */
  version: string;
  bootstrap: Record<string, unknown>;
  workers: number;
  record(event: RecordEventInput): void;
  logError(message: string): void;
  setLogLevel(level: LogLevel): void;
  /** /healthcheck/fail or /drain_listeners was accepted. */
  onDrainStarted(): void;
  onQuit(): void;
}

const POST_ONLY = new Set([
  '/healthcheck/fail', '/healthcheck/ok', '/drain_listeners', '/quitquitquit', '/logging',
  '/reset_counters', '/runtime_modify', '/double/connections',
]);

const HANDLERS = [
  '/ready', '/server_info', '/stats', '/stats/prometheus', '/config_dump', '/listeners', '/healthcheck/fail',
  '/healthcheck/ok', '/drain_listeners', '/quitquitquit', '/logging', '/reset_counters', '/runtime_modify',
];

function versionBefore(version: string, major: number, minor: number): boolean {
  const [ma, mi] = version.split('.').map((p) => parseInt(p, 10));
  return ma! < major || (ma === major && mi! < minor);
}

function durationJson(seconds: number): string {
  return `${seconds}s`;
}

interface Reply {
  status: number;
  body: string;
  type: string;
}

export function createAdminHandler(deps: AdminDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { state, options } = deps;
  const text = (status: number, body: string, type = 'text/plain; charset=UTF-8'): Reply => ({ status, body, type });
  const json = (status: number, body: unknown): Reply =>
    text(status, `${JSON.stringify(body, null, 2)}\n`, 'application/json');

  function route(method: string, path: string, params: URLSearchParams, res: ServerResponse): Reply {
    if (POST_ONLY.has(path) && method !== 'POST') {
      deps.logError(`admin path "${path}" mutates state, method=${method} rather than POST`);
      return text(405, `Method ${method} not allowed, POST required.`);
    }
    switch (path) {
      case '/ready': {
        const s = state.serverState;
        return text(s === 'LIVE' ? 200 : 503, `${s}\n`);
      }
      case '/server_info':
        return json(200, {
          version: deps.build,
          state: state.serverState,
          hot_restart_version: 'disabled',
          command_line_options: {
            base_id: String(options.baseId),
            concurrency: deps.workers,
            config_path: options.configPath ?? '',
            config_yaml: options.configYaml ?? '',
            admin_address_path: options.adminAddressPath ?? '',
            local_address_ip_version: 'v4',
            log_level: options.logLevel,
            component_log_level: options.componentLogLevel ?? '',
            log_path: options.logPath ?? '',
            service_cluster: options.serviceCluster ?? '',
            service_node: options.serviceNode ?? '',
            service_zone: options.serviceZone ?? '',
            drain_strategy: options.drainStrategy === 'immediate' ? 'Immediate' : 'Gradual',
            mode: { serve: 'Serve', validate: 'Validate', init_only: 'InitOnly' }[options.mode],
            disable_hot_restart: options.disableHotRestart,
            cpuset_threads: options.cpusetThreads,
            restart_epoch: options.restartEpoch,
            drain_time: durationJson(options.drainTimeS),
            parent_shutdown_time: durationJson(options.parentShutdownTimeS),
          },
          node: deps.bootstrap.node ?? {},
          uptime_current_epoch: durationJson(Math.floor((Date.now() - state.startedAt) / 1000)),
          uptime_all_epochs: durationJson(Math.floor((Date.now() - state.startedAt) / 1000)),
        });
      case '/stats':
      case '/stats/prometheus': {
        let stats = collectStats(state, deps.workers);
        const filter = params.get('filter');
        if (filter) {
          let re: RegExp;
          try {
            re = new RegExp(filter);
          } catch {
            return text(400, `Invalid re2 regex`);
          }
          stats = stats.filter(([name]) => re.test(name));
        }
        if (path === '/stats/prometheus') return text(200, prometheus(stats), 'text/plain; version=0.0.4');
        if (params.get('format') === 'json') {
          return json(200, { stats: stats.map(([name, value]) => ({ name, value })) });
        }
        if (params.has('format') && params.get('format') !== 'text') return text(404, 'usage: /stats?format=(html|active-html|json|prometheus|text)\n');
        return text(200, stats.map(([name, value]) => `${name}: ${value}\n`).join(''));
      }
      case '/config_dump':
        return json(200, {
          configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: deps.bootstrap }],
        });
      case '/listeners': {
        const names = [...state.connections.keys()];
        if (params.get('format') === 'json') {
          return json(200, { listener_statuses: names.map((name) => ({ name })) });
        }
        return text(200, names.map((name) => `${name}::${name}\n`).join(''));
      }
      case '/healthcheck/fail':
        state.healthFailed = true;
        deps.onDrainStarted();
        return text(200, 'OK\n');
      case '/healthcheck/ok':
        state.healthFailed = false;
        return text(200, 'OK\n');
      case '/drain_listeners':
        if (params.has('skip_exit') && !params.has('graceful') && versionBefore(deps.version, 1, 27)) {
          return text(400, 'skip_exit requires graceful\n');
        }
        state.drainRequested = true;
        deps.onDrainStarted();
        return text(200, 'OK\n');
      case '/quitquitquit':
        res.on('finish', deps.onQuit);
        return text(200, 'OK\n');
      case '/logging': {
        const level = params.get('level');
        if (level !== null) {
          if (!(LOG_LEVELS as readonly string[]).includes(level)) return text(404, `error: unknown logger level\n`);
          deps.setLogLevel(level as LogLevel);
        }
        return text(200, 'active loggers:\n  main: info\n');
      }
      case '/reset_counters':
      case '/runtime_modify':
        return text(200, 'OK\n');
      case '/double/connections': {
        const name = params.get('name');
        const value = Number(params.get('value'));
        if (!name || !Number.isInteger(value) || value < 0) return text(400, 'usage: /double/connections?name=<listener>&value=<n>\n');
        state.connections.set(listenerKey(name), value);
        deps.record({ event: 'connections', name: listenerKey(name), value });
        return text(200, 'OK\n');
      }
      default:
        return text(404, `invalid path. admin commands are:\n${HANDLERS.map((h) => `  ${h}\n`).join('')}`);
    }
  }

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method ?? 'GET';
    // Drain the body (POSTs from clients may carry one) before answering.
    req.resume();
    req.on('end', () => {
      const reply = route(method, url.pathname, url.searchParams, res);
      // Recorded before answering, so a client that got its response finds the event on disk.
      deps.record({ event: 'admin', method, path: url.pathname, query: url.search.slice(1), status: reply.status });
      res.writeHead(reply.status, {
        'content-type': reply.type,
        'cache-control': 'no-cache, max-age=0',
        'x-content-type-options': 'nosniff',
      });
      res.end(reply.body);
    });
  };
}
