/**
 * Envoy's xDS v3 protos, loaded from the copies shipped in @grpc/grpc-js-xds (a devDependency):
 * the ADS service for @grpc/grpc-js (client and server) and the resource types that travel inside
 * `google.protobuf.Any`. Shared by the dev control plane and the Envoy double's ADS client.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

const XDS_DEPS = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

/** Import roots of the shipped protos, plus protobufjs's own copy of descriptor.proto (imported by PGV). */
const XDS_PROTO_DIRS: readonly string[] = [
  ...['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((dir) => join(XDS_DEPS, dir)),
  dirname(require.resolve('protobufjs/package.json')),
];

const TYPE_URL_PREFIX = 'type.googleapis.com/';

export const TYPE = {
  listener: 'envoy.config.listener.v3.Listener',
  cluster: 'envoy.config.cluster.v3.Cluster',
  endpoint: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  httpConnectionManager: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  router: 'envoy.extensions.filters.http.router.v3.Router',
} as const;

export const TYPE_URL = {
  listener: TYPE_URL_PREFIX + TYPE.listener,
  cluster: TYPE_URL_PREFIX + TYPE.cluster,
  endpoint: TYPE_URL_PREFIX + TYPE.endpoint,
} as const;

const RESOURCE_PROTOS = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
];

/** The wire form of `google.protobuf.Any` as proto-loader hands it over with keepCase. */
export interface AnyMessage {
  type_url: string;
  value: Buffer | Uint8Array;
}

export interface AdsService {
  /** For `server.addService`. */
  service: grpc.ServiceDefinition;
  /** Client constructor with `StreamAggregatedResources` and `DeltaAggregatedResources`. */
  Client: grpc.ServiceClientConstructor;
}

let adsService: AdsService | undefined;
let resourceRoot: protobuf.Root | undefined;

export function loadAdsService(): AdsService {
  if (!adsService) {
    const definition = protoLoader.loadSync('envoy/service/discovery/v3/ads.proto', {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: false,
      oneofs: true,
      includeDirs: [...XDS_PROTO_DIRS],
    });
    const ads = 'envoy.service.discovery.v3.AggregatedDiscoveryService'
      .split('.')
      .reduce<unknown>((node, key) => (node as grpc.GrpcObject)[key], grpc.loadPackageDefinition(definition)) as grpc.ServiceClientConstructor;
    adsService = { service: ads.service, Client: ads };
  }
  return adsService;
}

function resourceTypes(): protobuf.Root {
  if (!resourceRoot) {
    const root = new protobuf.Root();
    // protobufjs resolves imports relative to the importing file; Envoy's protos import from the roots.
    root.resolvePath = (_origin, target) => {
      if (isAbsolute(target)) return target;
      return XDS_PROTO_DIRS.map((dir) => join(dir, target)).find((path) => existsSync(path)) ?? target;
    };
    root.loadSync(RESOURCE_PROTOS, { keepCase: true });
    root.resolveAll();
    resourceRoot = root;
  }
  return resourceRoot;
}

/** Encodes a snake_case object as the named message wrapped in an Any; nested Anys must already be packed. */
export function packAny(typeName: string, object: Record<string, unknown>): AnyMessage {
  const type = resourceTypes().lookupType(typeName);
  const message = type.fromObject(object);
  const problem = type.verify(message);
  if (problem) throw new Error(`${typeName}: ${problem}`);
  return { type_url: TYPE_URL_PREFIX + typeName, value: Buffer.from(type.encode(message).finish()) };
}

export function unpackAny(any: AnyMessage): Record<string, unknown> {
  const type = resourceTypes().lookupType(any.type_url.slice(any.type_url.lastIndexOf('/') + 1));
  return type.toObject(type.decode(any.value), { longs: String, enums: String, bytes: String });
}

/** The name a resource is known by in xDS: `name` for listeners and clusters, `cluster_name` for endpoints. */
export function resourceName(any: AnyMessage): string {
  const message = unpackAny(any);
  return String(message['name'] ?? message['cluster_name'] ?? '');
}
