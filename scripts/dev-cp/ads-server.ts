/**
 * AggregatedDiscoveryService v3 over a static snapshot: state of the world
 * (StreamAggregatedResources) and incremental (DeltaAggregatedResources). Each stream is recorded
 * (node, authorization token, subscriptions, ACKs and NACKs) so tests and the demo can see who
 * connected with what.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Snapshot, SnapshotResource } from './snapshot.js';
import type { AnyMessage } from './xds-protos.js';

interface Node {
  id?: string;
  cluster?: string;
}

interface Status {
  code?: number;
  message?: string;
}

interface DiscoveryRequest {
  version_info?: string;
  node?: Node;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: Status;
}

interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
}

interface DeltaDiscoveryRequest {
  node?: Node;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: Status;
}

interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: { name: string; version: string; resource: AnyMessage }[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
}

export type AdsApi = 'sotw' | 'delta';

export interface AdsStreamRecord {
  id: number;
  api: AdsApi;
  peer: string;
  /** From the first request that carried a node (Envoy sends it on the first message only). */
  nodeId: string | undefined;
  nodeCluster: string | undefined;
  /** The `authorization` call metadata, where kuma-cp expects the dataplane token. */
  authorization: string | undefined;
  /** Type URLs the client asked for, in order of first request. */
  typeUrls: string[];
  /** Names of the resources sent, per type URL. */
  sent: Record<string, string[]>;
  acks: number;
  nacks: string[];
  open: boolean;
}

export interface AdsServerOptions {
  snapshot: Snapshot;
  /** Every stream as it opens; the same object is updated while the stream lives. */
  onStream: (record: AdsStreamRecord) => void;
  log: (line: string) => void;
}

const SHORT_TYPE = (typeUrl: string): string => typeUrl.slice(typeUrl.lastIndexOf('.') + 1);

export function adsServiceImplementation({ snapshot, onStream, log }: AdsServerOptions): grpc.UntypedServiceImplementation {
  let streams = 0;
  let nonces = 0;

  function open(api: AdsApi, call: grpc.ServerDuplexStream<unknown, unknown>): AdsStreamRecord {
    const authorization = call.metadata.get('authorization')[0];
    const record: AdsStreamRecord = {
      id: ++streams,
      api,
      peer: call.getPeer(),
      nodeId: undefined,
      nodeCluster: undefined,
      authorization: authorization === undefined ? undefined : String(authorization),
      typeUrls: [],
      sent: {},
      acks: 0,
      nacks: [],
      open: true,
    };
    onStream(record);
    // The token itself never goes to the log, only whether one came.
    log(`ADS ${api} stream ${record.id} opened from ${record.peer}, authorization ${record.authorization ? 'present' : 'absent'}`);
    call.on('error', (err: Error) => log(`ADS ${api} stream ${record.id}: ${err.message}`));
    call.on('end', () => call.end());
    call.on('close', () => {
      record.open = false;
      log(`ADS ${api} stream ${record.id} closed`);
    });
    return record;
  }

  function noteRequest(record: AdsStreamRecord, node: Node | undefined, typeUrl: string): void {
    if (node?.id && record.nodeId === undefined) {
      record.nodeId = node.id;
      record.nodeCluster = node.cluster;
      log(`ADS ${record.api} stream ${record.id}: node ${node.id} (cluster ${node.cluster || '-'})`);
    }
    if (!record.typeUrls.includes(typeUrl)) record.typeUrls.push(typeUrl);
  }

  function noteResponse(record: AdsStreamRecord, typeUrl: string, sent: readonly SnapshotResource[], nonce: string): void {
    record.sent[typeUrl] = [...(record.sent[typeUrl] ?? []), ...sent.map((r) => r.name)];
    const names = sent.map((r) => r.name).join(', ') || 'nothing';
    log(`ADS ${record.api} stream ${record.id}: sent ${SHORT_TYPE(typeUrl)} ${names} (version ${snapshot.version}, nonce ${nonce})`);
  }

  function noteReply(record: AdsStreamRecord, typeUrl: string, error: Status | undefined): void {
    if (error) {
      record.nacks.push(`${SHORT_TYPE(typeUrl)}: ${error.message ?? ''}`);
      log(`ADS ${record.api} stream ${record.id}: NACK for ${SHORT_TYPE(typeUrl)}: ${error.message ?? ''}`);
    } else {
      record.acks++;
      log(`ADS ${record.api} stream ${record.id}: ACK for ${SHORT_TYPE(typeUrl)}`);
    }
  }

  const resourcesOf = (typeUrl: string): readonly SnapshotResource[] => snapshot.resources.get(typeUrl) ?? [];

  function streamAggregatedResources(call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>): void {
    const record = open('sotw', call);
    // Per type URL: the last nonce sent and the subscription it answered.
    const last = new Map<string, { nonce: string; names: string }>();
    call.on('data', (request: DiscoveryRequest) => {
      const typeUrl = request.type_url ?? '';
      noteRequest(record, request.node, typeUrl);
      const names = request.resource_names ?? [];
      const previous = last.get(typeUrl);
      if (request.response_nonce) {
        // A reply to an older response is stale: a newer one is already on its way to the client.
        if (!previous || request.response_nonce !== previous.nonce) return;
        noteReply(record, typeUrl, request.error_detail);
      }
      const subscription = [...names].sort().join('\n');
      if (previous && previous.names === subscription) return;
      // An empty list is a wildcard subscription (listeners and clusters).
      const resources = resourcesOf(typeUrl).filter((r) => names.length === 0 || names.includes(r.name));
      const nonce = String(++nonces);
      last.set(typeUrl, { nonce, names: subscription });
      call.write({ version_info: snapshot.version, resources: resources.map((r) => r.resource), type_url: typeUrl, nonce });
      noteResponse(record, typeUrl, resources, nonce);
    });
  }

  function deltaAggregatedResources(call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>): void {
    const record = open('delta', call);
    const subscriptions = new Map<string, { wildcard: boolean; names: Set<string>; sent: Set<string> }>();
    call.on('data', (request: DeltaDiscoveryRequest) => {
      const typeUrl = request.type_url ?? '';
      noteRequest(record, request.node, typeUrl);
      const subscribe = request.resource_names_subscribe ?? [];
      const unsubscribe = request.resource_names_unsubscribe ?? [];
      let state = subscriptions.get(typeUrl);
      const first = state === undefined;
      if (!state) {
        // The first request of a type with no names subscribes to everything (the legacy wildcard).
        const current = Object.entries(request.initial_resource_versions ?? {}).filter(([, v]) => v === snapshot.version);
        state = { wildcard: subscribe.length === 0, names: new Set(), sent: new Set(current.map(([name]) => name)) };
        subscriptions.set(typeUrl, state);
      }
      for (const name of subscribe) {
        if (name === '*') state.wildcard = true;
        else state.names.add(name);
      }
      for (const name of unsubscribe) {
        if (name === '*') state.wildcard = false;
        state.names.delete(name);
        state.sent.delete(name);
      }
      if (request.response_nonce) {
        noteReply(record, typeUrl, request.error_detail);
        if (subscribe.length === 0 && unsubscribe.length === 0) return;
      }
      const { wildcard, names, sent } = state;
      const due = resourcesOf(typeUrl).filter((r) => (wildcard || names.has(r.name)) && !sent.has(r.name));
      // The first request is always answered so that Envoy's initial fetch completes even when empty.
      if (due.length === 0 && !first) return;
      for (const r of due) sent.add(r.name);
      const nonce = String(++nonces);
      call.write({
        system_version_info: snapshot.version,
        resources: due.map((r) => ({ name: r.name, version: snapshot.version, resource: r.resource })),
        type_url: typeUrl,
        removed_resources: [],
        nonce,
      });
      noteResponse(record, typeUrl, due, nonce);
    });
  }

  return {
    StreamAggregatedResources: streamAggregatedResources as grpc.handleBidiStreamingCall<unknown, unknown>,
    DeltaAggregatedResources: deltaAggregatedResources as grpc.handleBidiStreamingCall<unknown, unknown>,
  };
}
