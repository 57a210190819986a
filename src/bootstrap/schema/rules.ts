import { ANY_TYPE, hasOpaqueJson, indexPath, keyPath, typeNameOfUrl } from './json-fields.js';
import { isRecord } from '../../util/is-record.js';
import type { BootstrapProblem } from './proto-json.js';
import type { SchemaTables } from './tables.js';

type Json = Record<string, unknown>;

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

/**
 * Checks Envoy makes at startup that a proto3-JSON parse does not (PGV rules and bootstrap
 * semantics), limited to what bootstraps we write or receive depend on. Input: the bootstrap in
 * the canonical form readProtoJson returns, so every field has one spelling (its proto name),
 * enums are names, ports are numbers and durations are "<seconds>s" strings.
 */
export function bootstrapRuleProblems(tables: SchemaTables, bootstrap: Json): BootstrapProblem[] {
  const problems: BootstrapProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };

  const staticClusters = arrayOf(obj(bootstrap['static_resources'])['clusters']);
  staticClusters.forEach((cluster, i) => {
    const at = indexPath('static_resources.clusters', i);
    if (!cluster['name']) add(`${at}.name`, 'a cluster needs a non-empty name');
    const timeout = cluster['connect_timeout'];
    if (typeof timeout === 'string' && !(durationSeconds(timeout) > 0)) {
      add(`${at}.connect_timeout`, `must be greater than 0 (got ${timeout}); leave it out for Envoy's 5s default`);
    }
  });

  const dynamic = obj(bootstrap['dynamic_resources']);
  if (Object.keys(dynamic).length > 0) {
    const node = obj(bootstrap['node']);
    for (const key of ['id', 'cluster']) {
      if (!node[key]) add(`node.${key}`, `must not be empty: Envoy requires node id and cluster when dynamic_resources (ADS, LDS, CDS) are configured`);
    }
  }

  const ads = dynamic['ads_config'];
  if (isRecord(ads)) {
    const at = 'dynamic_resources.ads_config';
    const apiType = ads['api_type'];
    if (apiType !== 'GRPC' && apiType !== 'DELTA_GRPC') {
      add(`${at}.api_type`, `${apiType === undefined ? 'missing' : `${String(apiType)} is not supported by Envoy`}; use DELTA_GRPC (incremental) or GRPC (state of the world)`);
    }
    if (ads['transport_api_version'] !== 'V3') {
      add(`${at}.transport_api_version`, `must be V3 (got ${String(ads['transport_api_version'] ?? 'AUTO')}); Envoy has dropped the v2 xDS transport`);
    }
    const services = arrayOf(ads['grpc_services']);
    if (services.length === 0) add(`${at}.grpc_services`, 'ADS needs one gRPC service naming the xDS cluster');
    const clusterNames = new Set(staticClusters.map((c) => c['name']));
    services.forEach((service, i) => {
      const clusterName = obj(service['envoy_grpc'])['cluster_name'];
      const where = `${indexPath(`${at}.grpc_services`, i)}.envoy_grpc.cluster_name`;
      if (clusterName === '') add(where, 'must not be empty: it names the static cluster ADS connects through');
      else if (typeof clusterName === 'string' && !clusterNames.has(clusterName)) {
        add(where, `cluster "${clusterName}" is not defined in static_resources.clusters; the ADS cluster must be static because nothing can deliver it before ADS is up`);
      }
    });
  }

  visitMessages(tables, BOOTSTRAP_TYPE, bootstrap, '', (typeName, message, path) => {
    if (typeName === 'envoy.config.core.v3.SocketAddress') {
      const port = message['port_value'];
      if (typeof port === 'number' && port > 65535) add(keyPath(path, 'port_value'), `${port} is not a TCP/UDP port; use 0..65535`);
    } else if (typeName === 'envoy.config.core.v3.Pipe') {
      const pipePath = message['path'];
      if (typeof pipePath === 'string' && Buffer.byteLength(pipePath) >= SUN_PATH_BYTES) {
        add(
          keyPath(path, 'path'),
          `unix socket path is ${Buffer.byteLength(pipePath)} bytes, longer than the ${SUN_PATH_BYTES - 1} the OS allows; use a shorter work dir`,
        );
      }
    }
  });
  return problems;
}

/** sizeof(sockaddr_un.sun_path), including the terminating NUL. */
const SUN_PATH_BYTES = process.platform === 'linux' ? 108 : 104;

/** "1.5s" → 1.5; every Duration the schema accepts has this form. */
function durationSeconds(text: string): number {
  return Number(text.slice(0, -1));
}

function obj(value: unknown): Json {
  return isRecord(value) ? value : {};
}

function arrayOf(value: unknown): Json[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** Calls visit for every message in the document, looking inside typed_config (Any) too. */
function visitMessages(tables: SchemaTables, typeName: string, json: Json, path: string, visit: (typeName: string, message: Json, path: string) => void): void {
  if (typeName === ANY_TYPE) {
    const typeUrl = json['@type'];
    const target = typeof typeUrl === 'string' ? typeNameOfUrl(typeUrl) : undefined;
    const value = json['value'];
    // A well-known type inside an Any has its JSON form under "value"; of those, only an Any holds messages.
    if (target === ANY_TYPE) {
      if (isRecord(value)) visitMessages(tables, ANY_TYPE, value, keyPath(path, 'value'), visit);
    } else if (target && !hasOpaqueJson(target) && tables.message(target)) {
      visitMessages(tables, target, json, path, visit);
    }
    return;
  }
  if (hasOpaqueJson(typeName)) return;
  visit(typeName, json, path);
  const table = tables.message(typeName);
  for (const [key, value] of Object.entries(json)) {
    const field = table?.byKey.get(key);
    if (!field?.message) continue;
    const here = keyPath(path, key);
    if (field.list) {
      arrayOf(value).forEach((element, i) => visitMessages(tables, field.message!, element, indexPath(here, i), visit));
    } else if (field.map) {
      for (const [mapKey, entry] of Object.entries(obj(value))) {
        if (isRecord(entry)) visitMessages(tables, field.message!, entry, keyPath(here, mapKey), visit);
      }
    } else if (isRecord(value)) {
      visitMessages(tables, field.message, value, here, visit);
    }
  }
}
