/** Bootstraps the schema tests start from (plain data: importing a test module would run its tests). */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const anyOf = (type: string, fields: { [key: string]: Json } = {}): { [key: string]: Json } => ({ '@type': `type.googleapis.com/${type}`, ...fields });

/**
 * A bootstrap of the shape kuma-cp sends, with the typed_config types of the bootstraps kuma-cp
 * sends and envoy-bootstrap/ renders: the admin access log, the regex engine, the ADS cluster's
 * TLS and HTTP/2 options.
 */
export const KUMA_CP_SHAPED: { [key: string]: Json } = {
  node: { id: 'default.web-1', cluster: 'web' },
  admin: {
    access_log: [{ name: 'envoy.access_loggers.file', typed_config: anyOf('envoy.extensions.access_loggers.file.v3.FileAccessLog', { path: '/dev/null' }) }],
    address: { pipe: { path: '/tmp/kuma-dp/admin.sock' } },
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
        transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: anyOf('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', { sni: 'kuma-control-plane' }) },
        load_assignment: {
          cluster_name: 'ads_cluster',
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 5678 } } } }] }],
        },
      },
    ],
  },
};

/** The minimal v3 bootstrap of reference/envoy-contract.md §E. */
export const GOOD_YAML = `
node:
  id: default.web-1
  cluster: web
  metadata: { dataplane.admin.port: "9901" }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 9901 } }
  access_log:
  - name: envoy.access_loggers.file
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
      path: /dev/null
dynamic_resources:
  ads_config:
    api_type: GRPC
    transport_api_version: V3
    set_node_on_first_message_only: true
    grpc_services:
    - envoy_grpc: { cluster_name: xds_cluster }
  cds_config: { ads: {}, resource_api_version: V3 }
  lds_config: { ads: {}, resource_api_version: V3 }
static_resources:
  clusters:
  - name: xds_cluster
    type: STRICT_DNS
    connect_timeout: 5s
    dns_lookup_family: V4_ONLY
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: xds_cluster
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: { socket_address: { address: control-plane.example, port_value: 5678 } }
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: control-plane.example
        common_tls_context:
          validation_context: { trusted_ca: { filename: /etc/xds/ca.pem } }
layered_runtime:
  layers:
  - { name: static, static_layer: { re2.max_program_size.error_level: 4294967295 } }
  - { name: admin, admin_layer: {} }
stats_config:
  stats_tags:
  - { tag_name: worker, regex: '(worker_([0-9]+)\\.)' }
`;
