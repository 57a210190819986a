import { chmod, mkdir, mkdtemp, rm, access, constants } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';

export interface WorkDir {
  path: string;
  /** A temp dir we made is removed at exit; an explicit one is kept. */
  temporary: boolean;
  cleanup(): Promise<void>;
}

/**
 * 0711 so that probes and admin curls of other users can traverse to the sockets, without
 * listing what is inside (bootstrap.yaml and the token file are 0600 anyway).
 */
export async function prepareWorkDir(explicit: string | undefined, origin = '--work-dir'): Promise<WorkDir> {
  if (!explicit) {
    const path = await mkdtemp(join(tmpdir(), 'kuma-dp-'));
    await chmod(path, 0o711);
    return { path, temporary: true, cleanup: () => rm(path, { recursive: true, force: true }) };
  }
  const path = resolve(explicit);
  try {
    await mkdir(path, { recursive: true, mode: 0o711 });
    await access(path, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new ConfigError(`work dir ${path} (${origin}) cannot be used: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: 'point --work-dir at a writable directory',
    });
  }
  return { path, temporary: false, cleanup: async () => {} };
}
