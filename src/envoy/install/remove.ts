import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, KumaDpError } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import { envoyRoot, lockPath, stagingRoot, versionDir } from './cache.js';
import { acquireLock } from './lock.js';
import { EXACT_VERSION } from './version-spec.js';

/**
 * Removes a managed version. Under the version's lock (never under a running install), the
 * version dir is first renamed out of the way, so a concurrent lookup sees it whole or not at all.
 */
export async function removeEnvoy(cacheDir: string, version: string, logger: Logger, signal?: AbortSignal): Promise<string> {
  if (!EXACT_VERSION.test(version)) {
    throw new ConfigError(`"${version}" is not an exact Envoy version`, { hint: 'give X.Y.Z as listed by kuma-dp envoy list' });
  }
  const dir = versionDir(cacheDir, version);
  const missing = new KumaDpError(`Envoy ${version} is not installed in ${envoyRoot(cacheDir)}`, { hint: 'see kuma-dp envoy list' });
  if (!(await stat(dir).catch(() => undefined))) throw missing;
  await mkdir(stagingRoot(cacheDir), { recursive: true });
  const lock = await acquireLock(lockPath(cacheDir, version), {
    signal,
    onWait: (owner) => logger.info('waiting for an install of the same Envoy to finish', { version, pid: owner?.pid }),
  });
  try {
    const trash = await mkdtemp(join(stagingRoot(cacheDir), `${version}-${process.pid}-`));
    try {
      await rename(dir, join(trash, 'removed'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw missing;
      throw err;
    } finally {
      await rm(trash, { recursive: true, force: true });
    }
  } finally {
    await lock.release();
  }
  logger.info('removed Envoy', { version, path: dir });
  return dir;
}
