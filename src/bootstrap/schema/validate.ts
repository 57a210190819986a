import { envoySchema } from './descriptor.js';
import { isRecord } from '../../util/is-record.js';
import { locateProblem, type BootstrapProblem } from './locate.js';
import { bootstrapRuleProblems } from './rules.js';
import { parseYaml } from './yaml.js';

export type { BootstrapProblem } from './locate.js';

export type BootstrapValidation =
  | { ok: true }
  | {
      ok: false;
      problems: BootstrapProblem[];
      /** One line for the operator: `<source>: <path>: <message>[; ...]`. */
      summary: string;
    };

export interface ValidateOptions {
  /** What the document is, for the summary: a file path, "the control plane's bootstrap", ... */
  source?: string;
}

/**
 * Checks a bootstrap (already parsed from YAML/JSON) the way Envoy reads it: a strict proto3-JSON
 * parse against Envoy's v3 API (unknown fields, also inside typed_config, bad enums, durations and
 * @type are errors; the first one is reported with its exact path), then the startup rules Envoy
 * enforces that the parse does not see.
 */
export function validateBootstrap(doc: unknown, options: ValidateOptions = {}): BootstrapValidation {
  const source = options.source ?? 'bootstrap';
  if (!isRecord(doc)) {
    const what = doc === null || doc === undefined ? 'an empty document' : Array.isArray(doc) ? 'a list' : `a ${typeof doc}`;
    return failed(source, [{ path: '(root)', message: `a bootstrap is a mapping of Envoy fields, not ${what}` }]);
  }
  const schema = envoySchema(anyTypeNames(doc));
  const { protobuf, registry, bootstrap } = schema;
  let canonical: Record<string, unknown>;
  try {
    const message = protobuf.fromJson(bootstrap, doc as never, { registry });
    canonical = protobuf.toJson(bootstrap, message, { registry, useProtoFieldName: true }) as Record<string, unknown>;
  } catch {
    return failed(source, [locateProblem(schema, bootstrap, doc, '')]);
  }
  const problems = bootstrapRuleProblems(schema, canonical);
  return problems.length === 0 ? { ok: true } : failed(source, problems);
}

/** Parses YAML (a syntax error is a problem at path "(yaml)" with its line and column), then validates. */
export function validateBootstrapYaml(text: string, source = 'bootstrap'): BootstrapValidation {
  const parsed = parseYaml(text);
  if ('error' in parsed) return failed(source, [{ path: '(yaml)', message: parsed.error }]);
  return validateBootstrap(parsed.value, { source });
}

/** Every "@type" in the document, as full type names, so the schema can load just those packages. */
function anyTypeNames(doc: unknown, names = new Set<string>()): Set<string> {
  if (Array.isArray(doc)) {
    for (const element of doc) anyTypeNames(element, names);
  } else if (isRecord(doc)) {
    for (const [key, value] of Object.entries(doc)) {
      if (key === '@type' && typeof value === 'string') names.add(value.slice(value.lastIndexOf('/') + 1));
      else anyTypeNames(value, names);
    }
  }
  return names;
}

function failed(source: string, problems: BootstrapProblem[]): BootstrapValidation {
  const summary = `${source}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`;
  return { ok: false, problems, summary };
}

const anyOf = (type: string, fields: Record<string, unknown> = {}) => ({ '@type': `type.googleapis.com/${type}`, ...fields });

/**
 * A bootstrap of the shape kuma-cp sends, small: checking it once compiles the code every check
 * runs. Its typed_config types are those of the bootstraps kuma-cp sends and envoy-bootstrap/
 * renders: the admin access log, the regex engine, the ADS cluster's TLS and HTTP/2 options.
 */
export const WARM_UP_BOOTSTRAP = {
  node: { id: 'default.warm-up', cluster: 'warm-up' },
  admin: {
    access_log: [{ name: 'envoy.access_loggers.file', typed_config: anyOf('envoy.extensions.access_loggers.file.v3.FileAccessLog', { path: '/dev/null' }) }],
    address: { pipe: { path: '/tmp/warm-up.sock' } },
  },
  default_regex_engine: { name: 'envoy.regex_engines.google_re2', typed_config: anyOf('envoy.extensions.regex_engines.v3.GoogleRE2') },
  dynamic_resources: {
    ads_config: { api_type: 'DELTA_GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'ads_cluster' } }] },
    cds_config: { ads: {}, resource_api_version: 'V3' },
    lds_config: { ads: {}, resource_api_version: 'V3' },
  },
  static_resources: {
    clusters: [
      {
        name: 'ads_cluster',
        connect_timeout: '1s',
        type: 'STRICT_DNS',
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': anyOf('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', {
            explicit_http_config: { http2_protocol_options: {} },
          }),
        },
        transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: anyOf('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', { sni: 'warm-up' }) },
        load_assignment: {
          cluster_name: 'ads_cluster',
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 5678 } } } }] }],
        },
      },
    ],
  },
};

/**
 * Loads the descriptor index and the types of a Kuma bootstrap, typed_configs included, and runs
 * one check ahead of time. `run` does it while it waits for `envoy --version` and the control
 * plane, so that the real check costs a few milliseconds when the bootstrap arrives.
 */
export function warmUpSchema(): void {
  validateBootstrap(WARM_UP_BOOTSTRAP);
}
