import { readFileSync } from 'node:fs';
import type { EnvoyOptions } from './argv.js';

/** A reason Envoy would print after `error initializing config '<path>': `. */
export class BootstrapError extends Error {}

export type AdminAddress =
  | { kind: 'tcp'; address: string; port: number }
  | { kind: 'pipe'; path: string; mode?: number };

export interface LoadedBootstrap {
  bootstrap: Record<string, unknown>;
  admin: AdminAddress;
  /** Listener stat names (`<address>_<port>` or stat_prefix) of the static listeners. */
  listeners: string[];
  ads: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `snake_case` or its proto-JSON `camelCase` twin, as Envoy's parser accepts both. */
export function field(obj: unknown, snake: string): unknown {
  if (!isObj(obj)) return undefined;
  if (snake in obj) return obj[snake];
  return obj[snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())];
}

/** Proto MergeFrom: scalars override, messages merge, repeated fields append. */
function mergeFrom(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    if (Array.isArray(current) && Array.isArray(value)) out[key] = [...current, ...value];
    else if (isObj(current) && isObj(value)) out[key] = mergeFrom(current, value);
    else out[key] = value;
  }
  return out;
}

async function parseText(text: string, asJson: boolean): Promise<unknown> {
  if (asJson) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new BootstrapError(`Unable to parse JSON as proto (INVALID_ARGUMENT: ${(err as Error).message})`);
    }
  }
  const { load: parse } = await import('js-yaml');
  try {
    return parse(text);
  } catch (err) {
    throw new BootstrapError(`Unable to convert YAML as JSON: ${(err as Error).message.split('\n')[0]}`);
  }
}

function adminAddress(bootstrap: Obj): AdminAddress {
  const address = field(field(bootstrap, 'admin'), 'address');
  const socket = field(address, 'socket_address');
  if (isObj(socket)) {
    const host = field(socket, 'address');
    const port = Number(field(socket, 'port_value') ?? 0);
    if (typeof host !== 'string' || !host) throw new BootstrapError('admin.address.socket_address.address is empty');
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BootstrapError(`invalid admin port ${port}`);
    return { kind: 'tcp', address: host, port };
  }
  const pipe = field(address, 'pipe');
  const path = field(pipe, 'path');
  if (typeof path === 'string' && path) {
    const mode = field(pipe, 'mode');
    return { kind: 'pipe', path, mode: mode === undefined ? undefined : Number(mode) };
  }
  throw new BootstrapError(
    'envoy double: the bootstrap has no admin address (admin.address.socket_address or admin.address.pipe.path)',
  );
}

function listenerNames(bootstrap: Obj): string[] {
  const listeners = field(field(bootstrap, 'static_resources'), 'listeners');
  if (!Array.isArray(listeners)) return [];
  return listeners.flatMap((listener) => {
    const prefix = field(listener, 'stat_prefix');
    if (typeof prefix === 'string' && prefix) return [prefix];
    const socket = field(field(listener, 'address'), 'socket_address');
    const host = field(socket, 'address');
    return typeof host === 'string' ? [`${host}_${Number(field(socket, 'port_value') ?? 0)}`] : [];
  });
}

export async function loadBootstrap(options: EnvoyOptions): Promise<LoadedBootstrap> {
  if (!options.configPath && !options.configYaml) {
    throw new BootstrapError('At least one of --config-path or --config-yaml or Options::configProto() should be non-empty');
  }
  let bootstrap: Obj = {};
  if (options.configPath) {
    let text: string;
    try {
      text = readFileSync(options.configPath, 'utf8');
    } catch {
      throw new BootstrapError(`unable to read file: ${options.configPath}`);
    }
    const parsed = await parseText(text, options.configPath.endsWith('.json'));
    if (!isObj(parsed)) throw new BootstrapError(`Unable to parse JSON as proto (INVALID_ARGUMENT: not an object)`);
    bootstrap = parsed;
  }
  if (options.configYaml) {
    const parsed = await parseText(options.configYaml, false);
    if (!isObj(parsed)) throw new BootstrapError('Unable to convert YAML as JSON: not a map');
    bootstrap = mergeFrom(bootstrap, parsed);
  }
  const ads = isObj(field(field(bootstrap, 'dynamic_resources'), 'ads_config'));
  if (ads) {
    const node = field(bootstrap, 'node');
    if (!(options.serviceNode ?? field(node, 'id')) || !(options.serviceCluster ?? field(node, 'cluster'))) {
      throw new BootstrapError(
        "ads: node 'id' and 'cluster' are required. Set it either in 'node' config or via --service-node and --service-cluster options.",
      );
    }
  }
  return { bootstrap, admin: adminAddress(bootstrap), listeners: listenerNames(bootstrap), ads };
}
