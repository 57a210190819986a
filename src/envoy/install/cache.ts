import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KumaDpError } from '../../errors.js';
import { probeExecutable } from '../../platform/executables.js';
import { describeFsError } from '../../platform/fs-errors.js';
import { EXACT_VERSION, newestFirst } from './version-spec.js';

/**
 * Layout of the managed Envoys (DESIGN §4): `<cacheDir>/envoy/<version>/bin/envoy`. A version
 * directory appears in one rename once its binary is verified, so its presence means "complete".
 * Work in progress lives in dot-directories that listings skip.
 */
export const envoyRoot = (cacheDir: string): string => join(cacheDir, 'envoy');
export const versionDir = (cacheDir: string, version: string): string => join(envoyRoot(cacheDir), version);
export const managedBinary = (cacheDir: string, version: string): string => join(versionDir(cacheDir, version), 'bin', 'envoy');
/** Staging dirs (downloads, unpacking, removals); same filesystem as the final place so rename is atomic. */
export const stagingRoot = (cacheDir: string): string => join(envoyRoot(cacheDir), '.tmp');
export const lockPath = (cacheDir: string, version: string): string => join(envoyRoot(cacheDir), '.locks', `${version}.lock`);

export interface ManagedEnvoy {
  version: string;
  path: string;
}

/** Installed versions, newest first (semver order); synchronous, as probeExecutable is. */
export function listManaged(cacheDir: string): ManagedEnvoy[] {
  let names: string[];
  try {
    names = readdirSync(envoyRoot(cacheDir));
  } catch {
    return [];
  }
  return newestFirst(names.filter((name) => EXACT_VERSION.test(name)))
    .map((version) => ({ version, path: managedBinary(cacheDir, version) }))
    .filter(({ path }) => probeExecutable(path) === 'ok');
}

/**
 * A file of an install that could not be written: a full, read-only or unwritable cache, which no
 * retry of the download can help.
 */
export function cacheWriteError(path: string, err: NodeJS.ErrnoException): KumaDpError {
  return new KumaDpError(`cannot write ${path}: ${describeFsError(err)}`, {
    hint: 'free space in the Envoy cache or set KUMA_DP_CACHE_DIR to another filesystem',
    cause: err,
  });
}
