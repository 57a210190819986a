import { isIP } from 'node:net';
import { join } from 'node:path';
import { ConfigError } from '../../errors.js';
import { isRecord } from '../../util/is-record.js';

/** Everything `--bootstrap local` needs, resolved by the caller from flags, env and files. */
export interface LocalBootstrapInput {
  /** `--cp-address`: http(s)://host[:port]; the ADS cluster points at host:port (5678 when absent). */
  cpAddress: string;
  mesh: string;
  name: string;
  /** The rendered Dataplane resource (REST form), when a template was given. */
  dataplane?: Record<string, unknown>;
  /** Dataplane token; sent as `authorization` initial metadata on the ADS stream. */
  token?: string;
  workdir: string;
  /**
   * Envoy admin on `<workdir>/kuma-envoy-admin.sock` instead of 127.0.0.1:<admin port>; by default
   * a socket unless the Dataplane names an admin port, as kuma-cp decides (instances on one host
   * then never fight over a port).
   */
  adminSocket?: boolean;
  /** PEM trusted for an https control plane (`--ca-cert-file` / KUMA_CONTROL_PLANE_CA_CERT). */
  caCertPem?: string;
  /** The system CA bundle, trusted for https when no caCertPem is given. */
  systemCaPath?: string;
  kumaDpVersion: string;
  envoyVersion: string;
  features: string[];
  readinessPort: number;
  dnsPort: number;
  /** `--proxy-type`; `dataplane` when absent. */
  proxyType?: string;
  /** `--bootstrap-template FILE`; envoy-bootstrap/bootstrap.yaml.mustache when absent. */
  templatePath?: string;
}

/**
 * What the template sees; envoy-bootstrap/README.md documents every name. Values are plain data:
 * the renderer turns each `{{name}}` into a YAML-safe scalar or flow collection.
 */
export interface BootstrapView {
  node: { id: string; cluster: string };
  metadata: {
    dataplaneResource?: string;
    adminPort: string;
    readinessPort: string;
    dnsPort: string;
    proxyType: string;
    version: { kumaDp: { version: string }; envoy: { version: string } };
    features: string[];
    workdir: string;
  };
  admin: { port: number; socketPath?: string };
  cp: {
    host: string;
    port: number;
    clusterType: 'STATIC' | 'STRICT_DNS';
    resolveByDns: boolean;
    tls?: { sni?: string; sanType: 'DNS' | 'IP_ADDRESS'; caPem?: string; caFile?: string };
  };
  token?: string;
}

const DEFAULT_CP_PORT = 5678;
const DEFAULT_ADMIN_PORT = 9901;
/** The admin socket's name in the work dir when `adminSocket` is set (kuma-cp uses the same). */
export const ADMIN_SOCKET_NAME = 'kuma-envoy-admin.sock';

export function bootstrapView(input: LocalBootstrapInput): BootstrapView {
  if (!input.mesh || !input.name) {
    throw new ConfigError('a local bootstrap needs the dataplane name and mesh', { hint: 'pass --name and --mesh, or a --dataplane-file that sets them' });
  }
  const cp = controlPlaneEndpoint(input.cpAddress);
  const givenAdminPort = dataplaneAdminPort(input.dataplane);
  const adminPort = givenAdminPort ?? DEFAULT_ADMIN_PORT;
  const adminSocket = input.adminSocket ?? givenAdminPort === undefined;
  const ipLiteral = isIP(cp.host) !== 0;
  return {
    node: { id: `${input.mesh}.${input.name}`, cluster: serviceName(input.dataplane) ?? input.name },
    metadata: {
      ...(input.dataplane ? { dataplaneResource: JSON.stringify(input.dataplane) } : {}),
      adminPort: String(adminPort),
      readinessPort: String(input.readinessPort),
      dnsPort: String(input.dnsPort),
      proxyType: input.proxyType ?? 'dataplane',
      version: { kumaDp: { version: input.kumaDpVersion }, envoy: { version: input.envoyVersion } },
      features: input.features,
      workdir: input.workdir,
    },
    admin: { port: adminPort, ...(adminSocket ? { socketPath: join(input.workdir, ADMIN_SOCKET_NAME) } : {}) },
    cp: {
      host: cp.host,
      port: cp.port,
      clusterType: ipLiteral ? 'STATIC' : 'STRICT_DNS',
      resolveByDns: !ipLiteral,
      ...(cp.tls ? { tls: tlsView(input, cp.host, ipLiteral) } : {}),
    },
    ...(input.token ? { token: input.token } : {}),
  };
}

function tlsView(input: LocalBootstrapInput, host: string, ipLiteral: boolean): NonNullable<BootstrapView['cp']['tls']> {
  const trust = input.caCertPem ? { caPem: input.caCertPem } : input.systemCaPath ? { caFile: input.systemCaPath } : undefined;
  if (!trust) {
    // Without a trusted CA Envoy would accept any certificate from the control plane.
    throw new ConfigError(`no CA to verify the https control plane ${input.cpAddress}`, {
      hint: 'pass --ca-cert-file or set KUMA_CONTROL_PLANE_CA_CERT, or install a system CA bundle',
    });
  }
  // RFC 6066 forbids IP literals as SNI; the certificate is still checked against the IP SAN.
  return { ...(ipLiteral ? {} : { sni: host }), sanType: ipLiteral ? 'IP_ADDRESS' : 'DNS', ...trust };
}

/** host and port of `--cp-address`; an explicit port is kept even when it is the scheme's default. */
function controlPlaneEndpoint(cpAddress: string): { host: string; port: number; tls: boolean } {
  let url: URL;
  try {
    url = new URL(cpAddress);
  } catch {
    throw new ConfigError(`--cp-address "${cpAddress}" is not a URL`, { hint: 'use e.g. https://kuma-control-plane:5678' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`--cp-address "${cpAddress}" must use http or https`, { hint: 'use e.g. https://kuma-control-plane:5678' });
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new ConfigError(`--cp-address "${cpAddress}" has no host`, { hint: 'use e.g. https://kuma-control-plane:5678' });
  // URL drops a port equal to the scheme default (https://cp:443 → port ""), so read it from the authority.
  const authority = cpAddress.slice(cpAddress.indexOf('//') + 2).split(/[/?#]/)[0]!.replace(/^.*@/, '');
  const explicit = /:(\d+)$/.exec(authority.replace(/^\[[^\]]*\]/, ''));
  return { host, port: explicit ? Number(explicit[1]) : DEFAULT_CP_PORT, tls: url.protocol === 'https:' };
}

function dataplaneAdminPort(dataplane: Record<string, unknown> | undefined): number | undefined {
  const port = record(record(record(dataplane)['networking'])['admin'])['port'];
  if (port === undefined) return undefined;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`the Dataplane's networking.admin.port ${JSON.stringify(port)} is not a port`, { hint: 'set it to an integer in 0..65535 or leave it out for 9901' });
  }
  return port;
}

/** kuma.io/service of the first inbound (or of the gateway), which kuma-cp uses as node.cluster. */
function serviceName(dataplane: Record<string, unknown> | undefined): string | undefined {
  const networking = record(record(dataplane)['networking']);
  const inbounds = networking['inbound'];
  const firstInbound = Array.isArray(inbounds) ? record(inbounds[0]) : {};
  for (const holder of [firstInbound, record(networking['gateway'])]) {
    const service = record(holder['tags'])['kuma.io/service'];
    if (typeof service === 'string' && service !== '') return service;
  }
  return undefined;
}

function record(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
