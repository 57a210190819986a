import { join, resolve } from 'node:path';
import { pathDirs, probeExecutable } from '../platform/executables.js';
import { ConfigError } from '../errors.js';
import { envoyRoot, listManaged, managedBinary } from './install/cache.js';
import type { InstallSettings } from './install/options.js';
import { formatVersionSpec, parseVersionSpec, pickNewest, VERSION_FORMS } from './install/version-spec.js';

export interface FindEnvoyOptions {
  /** Explicit --binary-path or KUMA_DATAPLANE_RUNTIME_BINARY_PATH; undefined when not given. */
  binaryPath?: string | undefined;
  install: InstallSettings;
  cwd: string;
  /** Directory of the kuma-dp executable. */
  selfDir: string;
  env: NodeJS.ProcessEnv;
}

export interface ResolvedEnvoy {
  /** Absolute path. */
  path: string;
  /** Where it was found, for logs: `--binary-path`, `PATH`, `./envoy`, `next to kuma-dp`, `managed 1.34.1`... */
  source: string;
}

export type Managed = (spec: string) => Promise<ResolvedEnvoy>;

interface Candidate {
  path: string;
  source: string;
}

function onPath(name: string, env: NodeJS.ProcessEnv, source: string): Candidate[] {
  return pathDirs(env).map((dir) => ({ path: join(dir, name), source }));
}

function firstExecutable(candidates: Candidate[], looked: string[]): ResolvedEnvoy | undefined {
  for (const candidate of candidates) {
    const probe = probeExecutable(candidate.path);
    if (probe === 'ok') return candidate;
    looked.push(probe === 'missing' ? candidate.path : `${candidate.path} (${probe})`);
  }
  return undefined;
}

function notFound(looked: string[]): ConfigError {
  return new ConfigError(`no executable Envoy binary found; looked at: ${looked.join(', ')}`, {
    hint: 'pass --binary-path (or KUMA_DATAPLANE_RUNTIME_BINARY_PATH) pointing at Envoy, or install one with `kuma-dp envoy install [VERSION]` (or run with --envoy-version)',
  });
}

/**
 * The shared lookup. With an explicit binary path it is kuma-dp's (reference kuma-dp.md §3):
 * the path (a bare name searched on PATH), `./envoy`, then next to kuma-dp. Without one it is
 * DESIGN §5's: --envoy-version (managed) → PATH → ./envoy → next to kuma-dp → newest managed.
 */
export async function lookup(opts: FindEnvoyOptions, managed: Managed): Promise<ResolvedEnvoy> {
  const { binaryPath, cwd, selfDir, env, install } = opts;
  const looked: string[] = [];
  const beside: Candidate[] = [
    { path: join(resolve(cwd), 'envoy'), source: './envoy' },
    { path: join(resolve(selfDir), 'envoy'), source: 'next to kuma-dp' },
  ];
  if (binaryPath !== undefined) {
    const given = binaryPath.includes('/')
      ? [{ path: resolve(cwd, binaryPath), source: '--binary-path' }]
      : onPath(binaryPath, env, '--binary-path on PATH');
    const found = firstExecutable([...given, ...beside], looked);
    if (found) return found;
    throw notFound(looked);
  }
  if (install.envoyVersion !== undefined) return managed(install.envoyVersion);
  const found = firstExecutable([...onPath('envoy', env, 'PATH'), ...beside], looked);
  if (found) return found;
  const [newest] = listManaged(install.cacheDir);
  if (newest) return { path: newest.path, source: `managed ${newest.version} (newest installed)` };
  looked.push(`managed versions in ${envoyRoot(install.cacheDir)} (none installed)`);
  throw notFound(looked);
}

/**
 * A managed version already in the cache for an exact version; for `1.34`/`latest` the newest
 * installed match, so that starts are predictable and offline-safe (`kuma-dp envoy install 1.34`
 * upgrades to the newest patch on purpose).
 */
export function installedMatch(settings: InstallSettings, specText: string): ResolvedEnvoy | undefined {
  const spec = parseVersionSpec(specText);
  if (!spec) throw new ConfigError(`--envoy-version "${specText}" is not an Envoy version`, { hint: `use ${VERSION_FORMS}` });
  const installed = listManaged(settings.cacheDir);
  const version = pickNewest(
    installed.map((m) => m.version),
    spec,
  );
  return version === undefined ? undefined : { path: managedBinary(settings.cacheDir, version), source: `managed ${version} (--envoy-version ${formatVersionSpec(spec)})` };
}

/** The same lookup without installing or any network access (`envoy which`, `envoy list`). */
export async function findEnvoyBinary(opts: FindEnvoyOptions): Promise<ResolvedEnvoy> {
  return lookup(opts, async (spec) => {
    const present = installedMatch(opts.install, spec);
    if (present) return present;
    throw new ConfigError(`Envoy ${spec} is not installed in ${envoyRoot(opts.install.cacheDir)}`, {
      hint: `install it with \`kuma-dp envoy install ${spec}\` (kuma-dp run --envoy-version ${spec} installs it too)`,
    });
  });
}
