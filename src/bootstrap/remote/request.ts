import { goJsonStringify } from './go-json.js';

/** Feature names advertised to the control plane (kuma's pkg/core/xds/types/features.go). */
const FEATURE = {
  tcpAccessLogViaNamedPipe: 'feature-tcp-accesslog-via-named-pipe',
  otelViaKumaDp: 'feature-otel-via-kuma-dp',
  strictInboundPorts: 'feature-strict-inbound-ports',
  reusePort: 'feature-reuse-port',
  bindOutbounds: 'feature-bind-outbounds',
  spire: 'feature-spire',
} as const;

/** The switchable features; `feature-tcp-accesslog-via-named-pipe` is always on. */
export interface FeatureFlags {
  /** KUMA_DATAPLANE_RUNTIME_OTEL_PIPE_ENABLED, default true. */
  otelViaKumaDp: boolean;
  /** KUMA_DATAPLANE_RUNTIME_STRICT_INBOUND_PORTS_ENABLED, default true. */
  strictInboundPorts: boolean;
  /** KUMA_DATAPLANE_RUNTIME_REUSE_PORT_ENABLED, default true. */
  reusePort: boolean;
  /** --bind-outbounds, default false. */
  bindOutbounds: boolean;
  /** KUMA_DATAPLANE_RUNTIME_SPIRE_SUPPORTED, default false. */
  spire: boolean;
}

export const DEFAULT_FEATURE_FLAGS: Readonly<FeatureFlags> = {
  otelViaKumaDp: true,
  strictInboundPorts: true,
  reusePort: true,
  bindOutbounds: false,
  spire: false,
};

/** The `features` list; the CP treats it as a set, the order here is kuma-dp's defaults first. */
export function featureList(flags: FeatureFlags): string[] {
  const features: string[] = [FEATURE.tcpAccessLogViaNamedPipe];
  if (flags.otelViaKumaDp) features.push(FEATURE.otelViaKumaDp);
  if (flags.strictInboundPorts) features.push(FEATURE.strictInboundPorts);
  if (flags.reusePort) features.push(FEATURE.reusePort);
  if (flags.bindOutbounds) features.push(FEATURE.bindOutbounds);
  if (flags.spire) features.push(FEATURE.spire);
  return features;
}

/** Everything one bootstrap request is made of, already resolved (token read, facts detected). */
export interface BootstrapRequestInput {
  mesh: string;
  name: string;
  proxyType: string;
  /** The token text for this attempt, trimmed; omitted from the body when empty. */
  token?: string | undefined;
  /** The token file (the written one for an inline token); omitted when empty. */
  tokenPath?: string | undefined;
  /** toRestResourceJson() of the rendered template; omitted when there is no template. */
  dataplaneResourceJson?: string | undefined;
  kumaDp: { version: string; gitTag: string; gitCommit: string; buildDate: string };
  envoy: { version: string; build: string; compatible: boolean };
  /** The CP CA PEM (KUMA_CONTROL_PLANE_CA_CERT or --ca-cert-file), '' when none. */
  caCert: string;
  /** The HOST_IP env var; becomes dynamicMetadata.HOST_IP. */
  hostIp?: string | undefined;
  /**
   * Extra dynamic metadata (kuma-dp's plugin hook). Undefined means none, which kuma-dp sends as
   * `{}`; null is sent as `null` when HOST_IP is not set either.
   */
  dynamicMetadata?: Record<string, string> | null | undefined;
  /** 0 omits `dnsPort` (DNS proxy off). */
  dnsPort: number;
  /** 0 omits `readinessPort`. */
  readinessPort: number;
  /** KUMA_APPLICATION_PROBE_PROXY_PORT; > 0 means the probe proxy is enabled. */
  appProbeProxyPort: number;
  /** `linux` or `darwin`. */
  os: string;
  features: FeatureFlags;
  maxHeapSizeBytes: number;
  workdir: string;
  metricsCertPath: string;
  metricsKeyPath: string;
  systemCaPath: string;
  ipv6Enabled: boolean;
  spireSocketPath: string;
}

/** kuma-cp's BootstrapRequest (pkg/xds/bootstrap/types), keys in wire order. */
export interface BootstrapRequest {
  mesh: string;
  name: string;
  proxyType: string;
  dataplaneToken?: string;
  dataplaneTokenPath?: string;
  dataplaneResource?: string;
  version: {
    kumaDp: { version: string; gitTag: string; gitCommit: string; buildDate: string };
    envoy: { version: string; build: string; kumaDpCompatible: boolean };
  };
  caCert: string;
  dynamicMetadata: Record<string, string> | null;
  dnsPort?: number;
  readinessPort?: number;
  /** Wire trap: true means the probe proxy is ENABLED (frozen since kumahq/kuma#13885). */
  appProbeProxyDisabled?: true;
  operatingSystem: string;
  features: string[];
  resources: { maxHeapSizeBytes: number };
  workdir: string;
  metricsResources: { certPath: string; keyPath: string };
  systemCaPath: string;
  ipv6Enabled: boolean;
  spireResources: { socketPath: string };
}

function dynamicMetadata(input: BootstrapRequestInput): Record<string, string> | null {
  const merged: Record<string, string> = { ...(input.dynamicMetadata ?? {}) };
  if (input.hostIp) merged.HOST_IP = input.hostIp;
  if (input.dynamicMetadata === null && Object.keys(merged).length === 0) return null;
  // Go marshals map keys sorted.
  return Object.fromEntries(Object.keys(merged).sort().map((key) => [key, merged[key]!]));
}

/** The request body kuma-dp sends, field for field, with Go's `omitempty` presence rules. */
export function buildBootstrapRequest(input: BootstrapRequestInput): BootstrapRequest {
  return {
    mesh: input.mesh,
    name: input.name,
    proxyType: input.proxyType,
    ...(input.token ? { dataplaneToken: input.token } : {}),
    ...(input.tokenPath ? { dataplaneTokenPath: input.tokenPath } : {}),
    ...(input.dataplaneResourceJson ? { dataplaneResource: input.dataplaneResourceJson } : {}),
    version: {
      kumaDp: {
        version: input.kumaDp.version,
        gitTag: input.kumaDp.gitTag,
        gitCommit: input.kumaDp.gitCommit,
        buildDate: input.kumaDp.buildDate,
      },
      envoy: { version: input.envoy.version, build: input.envoy.build, kumaDpCompatible: input.envoy.compatible },
    },
    caCert: input.caCert,
    dynamicMetadata: dynamicMetadata(input),
    ...(input.dnsPort > 0 ? { dnsPort: input.dnsPort } : {}),
    ...(input.readinessPort > 0 ? { readinessPort: input.readinessPort } : {}),
    ...(input.appProbeProxyPort > 0 ? { appProbeProxyDisabled: true as const } : {}),
    operatingSystem: input.os,
    features: featureList(input.features),
    resources: { maxHeapSizeBytes: input.maxHeapSizeBytes },
    workdir: input.workdir,
    metricsResources: { certPath: input.metricsCertPath, keyPath: input.metricsKeyPath },
    systemCaPath: input.systemCaPath,
    ipv6Enabled: input.ipv6Enabled,
    spireResources: { socketPath: input.spireSocketPath },
  };
}

/** The body as kuma-dp writes it: Go's json.MarshalIndent with a one-space indent. */
export function serializeBootstrapRequest(request: BootstrapRequest): string {
  return goJsonStringify(request, 1);
}
