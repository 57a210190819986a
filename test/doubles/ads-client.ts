/**
 * The Envoy double's ADS client: connects to the xDS server its bootstrap names the way Envoy would
 * (the static cluster of `ads_config`, TLS from that cluster's UpstreamTlsContext, the
 * `initial_metadata` as call metadata, delta or state of the world per `api_type`), subscribes to
 * listeners and clusters (then the endpoints of the clusters it gets), ACKs every response and
 * records what arrives. It proves a bootstrap points at a live xDS server; it applies nothing.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadAdsService, resourceName, TYPE_URL, type AnyMessage } from '../../scripts/dev-cp/xds-protos.js';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `snake_case` or its proto-JSON `camelCase` twin, as Envoy's parser accepts both. */
function field(obj: unknown, snake: string): unknown {
  if (!isObj(obj)) return undefined;
  if (snake in obj) return obj[snake];
  return obj[snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())];
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const RECONNECT_MS = 500;

interface AdsTarget {
  clusterName: string;
  address: string;
  port: number;
  delta: boolean;
  metadata: { key: string; value: string }[];
  node: { id: string; cluster: string };
  tls: { ca: Buffer | null; sni: string | undefined } | undefined;
}

function trustedCa(validation: unknown): Buffer | null {
  const ca = field(validation, 'trusted_ca');
  const inline = field(ca, 'inline_string');
  if (typeof inline === 'string') return Buffer.from(inline);
  const bytes = field(ca, 'inline_bytes');
  if (typeof bytes === 'string') return Buffer.from(bytes, 'base64');
  const filename = field(ca, 'filename');
  if (typeof filename === 'string') return readFileSync(filename);
  return null;
}

function tlsOf(bootstrap: unknown, cluster: unknown): AdsTarget['tls'] {
  const socket = field(cluster, 'transport_socket');
  const config = field(socket, 'typed_config');
  if (!String(field(config, '@type') ?? '').endsWith('UpstreamTlsContext')) return undefined;
  const common = field(config, 'common_tls_context');
  let validation = field(common, 'validation_context');
  // kuma-cp references a static secret instead of inlining the CA.
  const sdsName = field(field(common, 'validation_context_sds_secret_config'), 'name');
  if (validation === undefined && typeof sdsName === 'string') {
    const secret = list(field(field(bootstrap, 'static_resources'), 'secrets')).find((s) => field(s, 'name') === sdsName);
    validation = field(secret, 'validation_context');
  }
  const sni = field(config, 'sni');
  return { ca: trustedCa(validation), sni: typeof sni === 'string' && sni ? sni : undefined };
}

function adsTarget(bootstrap: unknown): AdsTarget {
  const ads = field(field(bootstrap, 'dynamic_resources'), 'ads_config');
  const service = list(field(ads, 'grpc_services'))[0];
  const clusterName = field(field(service, 'envoy_grpc'), 'cluster_name');
  if (typeof clusterName !== 'string') throw new Error('ads_config.grpc_services[0].envoy_grpc.cluster_name is missing');
  const cluster = list(field(field(bootstrap, 'static_resources'), 'clusters')).find((c) => field(c, 'name') === clusterName);
  if (!cluster) throw new Error(`the ADS cluster ${clusterName} is not among static_resources.clusters`);
  const endpoint = list(field(list(field(field(cluster, 'load_assignment'), 'endpoints'))[0], 'lb_endpoints'))[0];
  const socket = field(field(field(endpoint, 'endpoint'), 'address'), 'socket_address');
  const address = field(socket, 'address');
  const port = Number(field(socket, 'port_value'));
  if (typeof address !== 'string' || !Number.isInteger(port)) throw new Error(`the ADS cluster ${clusterName} has no socket_address endpoint`);
  const node = field(bootstrap, 'node');
  return {
    clusterName,
    address,
    port,
    delta: field(ads, 'api_type') === 'DELTA_GRPC',
    metadata: list(field(service, 'initial_metadata')).map((m) => ({ key: String(field(m, 'key')), value: String(field(m, 'value')) })),
    node: { id: String(field(node, 'id') ?? ''), cluster: String(field(node, 'cluster') ?? '') },
    tls: tlsOf(bootstrap, cluster),
  };
}

interface Response {
  type_url: string;
  nonce: string;
  version_info?: string;
  system_version_info?: string;
  resources: (AnyMessage | { name: string })[];
}

/**
 * Connects and keeps reconnecting (like Envoy) until the returned function is called. Rejects only
 * when the bootstrap names no usable ADS server.
 */
export async function connectAds(bootstrap: unknown, record: (event: object) => void): Promise<() => void> {
  const target = adsTarget(bootstrap);
  const { Client } = loadAdsService();
  const credentials = target.tls ? grpc.credentials.createSsl(target.tls.ca) : grpc.credentials.createInsecure();
  const channelOptions: grpc.ChannelOptions = target.tls?.sni
    ? { 'grpc.ssl_target_name_override': target.tls.sni, 'grpc.default_authority': target.tls.sni }
    : {};
  const host = target.address.includes(':') ? `[${target.address}]` : target.address;
  const client = new Client(`${host}:${target.port}`, credentials, channelOptions);
  const api = target.delta ? 'delta' : 'sotw';
  let closed = false;
  let call: grpc.ClientDuplexStream<object, Response> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const open = (): void => {
    const metadata = new grpc.Metadata();
    for (const { key, value } of target.metadata) metadata.add(key, value);
    const stream = (target.delta ? client['DeltaAggregatedResources'] : client['StreamAggregatedResources'])!.call(
      client,
      metadata,
    ) as grpc.ClientDuplexStream<object, Response>;
    call = stream;
    let connected = false;
    let nodeSent = false;
    // Per type URL, the names subscribed to; a state-of-the-world ACK must repeat them.
    const subscribed = new Map<string, string[]>();
    const subscribe = (typeUrl: string, names: string[]): void => {
      subscribed.set(typeUrl, names);
      const node = nodeSent ? {} : { node: target.node };
      nodeSent = true;
      stream.write(target.delta ? { ...node, type_url: typeUrl, resource_names_subscribe: names } : { ...node, type_url: typeUrl, resource_names: names });
    };
    stream.on('data', (response: Response) => {
      const names = response.resources.map((r) => ('name' in r && typeof r.name === 'string' ? r.name : resourceName(r as AnyMessage)));
      if (!connected) {
        connected = true;
        record({ event: 'ads-connected', api, target: `${host}:${target.port}`, tls: Boolean(target.tls), node: target.node });
      }
      record({ event: 'ads-response', api, node: target.node.id, typeUrl: response.type_url, resourceNames: names });
      const version = response.version_info ?? response.system_version_info ?? '';
      stream.write(
        target.delta
          ? { type_url: response.type_url, response_nonce: response.nonce }
          : { type_url: response.type_url, response_nonce: response.nonce, version_info: version, resource_names: subscribed.get(response.type_url) ?? [] },
      );
      // Envoy asks for the endpoints of the clusters it learns (EDS over ADS).
      if (response.type_url === TYPE_URL.cluster && names.length > 0 && !subscribed.has(TYPE_URL.endpoint)) subscribe(TYPE_URL.endpoint, names);
    });
    // Every end of the stream comes as a status; 'error' only duplicates the non-OK ones.
    stream.on('error', () => {});
    stream.on('status', (status: grpc.StatusObject) => {
      if (closed) return;
      record({ event: 'ads-stream-closed', api, code: status.code, message: status.details });
      timer = setTimeout(open, RECONNECT_MS);
    });
    subscribe(TYPE_URL.listener, []);
    subscribe(TYPE_URL.cluster, []);
  };
  open();

  return () => {
    closed = true;
    clearTimeout(timer);
    call?.cancel();
    client.close();
  };
}
