import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KumaDpError } from '../../errors.js';
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

export type Probe = 'ok' | 'missing' | 'not executable';

/** What `exec` would make of the path: a regular file with an execute bit for us, or why not. */
export async function probeExecutable(path: string): Promise<Probe> {
  try {
    if (!(await stat(path)).isFile()) return 'not executable';
  } catch {
    return 'missing';
  }
  try {
    await access(path, constants.X_OK);
    return 'ok';
  } catch {
    return 'not executable';
  }
}

export async function isExecutable(path: string): Promise<boolean> {
  return (await probeExecutable(path)) === 'ok';
}

export interface ManagedEnvoy {
  version: string;
  path: string;
}

/** Installed versions, newest first (semver order). */
export async function listManaged(cacheDir: string): Promise<ManagedEnvoy[]> {
  let names: string[];
  try {
    names = await readdir(envoyRoot(cacheDir));
  } catch {
    return [];
  }
  const versions = newestFirst(names.filter((name) => EXACT_VERSION.test(name)));
  const present = await Promise.all(versions.map((v) => isExecutable(managedBinary(cacheDir, v))));
  return versions.filter((_, i) => present[i]).map((version) => ({ version, path: managedBinary(cacheDir, version) }));
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
