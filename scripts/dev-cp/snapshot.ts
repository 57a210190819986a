/**
 * The dev control plane's only configuration: one listener whose HTTP connection manager sends
 * every request to the cluster `app`, whose single endpoint is the local app. It never changes,
 * so one version string covers it.
 */
import { packAny, TYPE, TYPE_URL, type AnyMessage } from './xds-protos.js';

export interface SnapshotOptions {
  /** Address Envoy's listener binds to and the app listens on (loopback). */
  host: string;
  listenerPort: number;
  appPort: number;
}

export interface SnapshotResource {
  name: string;
  resource: AnyMessage;
}

export interface Snapshot {
  version: string;
  /** Keyed by type URL. */
  resources: ReadonlyMap<string, readonly SnapshotResource[]>;
}

const APP_CLUSTER = 'app';
const LISTENER_NAME = 'demo-listener';

export function buildSnapshot({ host, listenerPort, appPort }: SnapshotOptions): Snapshot {
  const connectionManager = packAny(TYPE.httpConnectionManager, {
    stat_prefix: 'demo',
    route_config: {
      name: 'demo-routes',
      virtual_hosts: [{ name: APP_CLUSTER, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: APP_CLUSTER } }] }],
    },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: packAny(TYPE.router, {}) }],
  });
  const listener = packAny(TYPE.listener, {
    name: LISTENER_NAME,
    address: { socket_address: { address: host, port_value: listenerPort } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: connectionManager }] }],
  });
  const cluster = packAny(TYPE.cluster, {
    name: APP_CLUSTER,
    type: 'EDS',
    connect_timeout: { seconds: 1 },
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
  });
  const endpoints = packAny(TYPE.endpoint, {
    cluster_name: APP_CLUSTER,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: appPort } } } }] }],
  });
  return {
    version: '1',
    resources: new Map([
      [TYPE_URL.listener, [{ name: LISTENER_NAME, resource: listener }]],
      [TYPE_URL.cluster, [{ name: APP_CLUSTER, resource: cluster }]],
      [TYPE_URL.endpoint, [{ name: APP_CLUSTER, resource: endpoints }]],
    ]),
  };
}
