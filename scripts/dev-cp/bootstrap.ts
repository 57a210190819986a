/**
 * The bootstrap the dev control plane hands out: kuma-dp's own local generator fed from the
 * `/bootstrap` request, with ADS pointing at the dev control plane's gRPC port and Envoy's admin
 * API on `<workdir>/kuma-envoy-admin.sock`, kuma-cp's default.
 */
import { tmpdir } from 'node:os';
import { generateLocalBootstrap } from '../../src/bootstrap/local/generate.js';
import type { BootstrapRequest } from './bootstrap-endpoint.js';

export interface RenderOptions {
  /** `http(s)://host:port` of the ADS server. */
  adsUrl: string;
  /** CA Envoy trusts for the ADS server when adsUrl is https. */
  caCert: string | undefined;
}

const DEFAULT_READINESS_PORT = 9902;

function dataplaneOf(request: BootstrapRequest): Record<string, unknown> | undefined {
  if (!request.dataplaneResource) return undefined;
  const resource: unknown = JSON.parse(request.dataplaneResource);
  return typeof resource === 'object' && resource !== null && !Array.isArray(resource) ? (resource as Record<string, unknown>) : undefined;
}

export function renderBootstrap(request: BootstrapRequest, { adsUrl, caCert }: RenderOptions): string {
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);
  const port = (v: unknown, fallback: number): number => (typeof v === 'number' && Number.isInteger(v) ? v : fallback);
  return generateLocalBootstrap({
    cpAddress: adsUrl,
    mesh: request.mesh,
    name: request.name,
    dataplane: dataplaneOf(request),
    token: text(request.dataplaneToken),
    workdir: text(request.workdir) ?? tmpdir(),
    adminSocket: true,
    caCertPem: text(request.caCert) ?? caCert,
    systemCaPath: text(request.systemCaPath),
    kumaDpVersion: text(request.version?.kumaDp?.['version']) ?? 'unknown',
    envoyVersion: text(request.version?.envoy?.['version']) ?? 'unknown',
    features: Array.isArray(request.features) ? request.features : [],
    readinessPort: port(request.readinessPort, DEFAULT_READINESS_PORT),
    dnsPort: port(request.dnsPort, 0),
    proxyType: text(request.proxyType),
  });
}
