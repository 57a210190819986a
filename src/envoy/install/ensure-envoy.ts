import type { Logger } from '../../logging/logger.js';
import { installedMatch, lookup, type FindEnvoyOptions, type ResolvedEnvoy } from '../binary.js';

export interface ResolveEnvoyOptions extends FindEnvoyOptions {
  logger: Logger;
  signal?: AbortSignal | undefined;
}

/**
 * The Envoy `run` starts, installing the --envoy-version one if it is missing (DESIGN §5). Apart
 * from binary.ts so that the plain lookup (`envoy which`) never bundles the installer.
 */
export async function resolveEnvoyBinary(opts: ResolveEnvoyOptions): Promise<ResolvedEnvoy> {
  return lookup(opts, async (spec) => {
    const present = installedMatch(opts.install, spec);
    if (present) return present;
    const { installEnvoy } = await import('./installer.js');
    const result = await installEnvoy({ settings: opts.install, version: spec, logger: opts.logger, signal: opts.signal });
    return { path: result.path, source: `managed ${result.version} (--envoy-version ${spec}, installed now)` };
  });
}
