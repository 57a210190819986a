import { readFileSync } from 'node:fs';
import { packagePath } from './package-root.js';

/** Build information reported in the bootstrap request and by `kuma-dp version`. */
export interface BuildInfo {
  product: string;
  version: string;
  gitTag: string;
  gitCommit: string;
  buildDate: string;
}

/**
 * The Envoy release this kuma-dp is tested against: the default of `kuma-dp envoy install`
 * and the reference of the compatibility check sent to the control plane.
 */
export const PINNED_ENVOY_VERSION = '1.34.1';

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as {
    version: string;
    gitCommit?: string;
    buildDate?: string;
  };
  cached = {
    product: 'Kuma DP',
    version: pkg.version,
    gitTag: `v${pkg.version}`,
    gitCommit: pkg.gitCommit ?? 'unknown',
    buildDate: pkg.buildDate ?? 'unknown',
  };
  return cached;
}
