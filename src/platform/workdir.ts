import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, rmdirSync, statSync } from 'node:fs';
import { rmAsync } from './fs-async.js';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { describeFsError, realCause } from './fs-errors.js';

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
    const path = mkdtempSync(join(tmpdir(), 'kuma-dp-'));
    chmodSync(path, 0o711);
    return { path, temporary: true, cleanup: () => rmAsync(path, { recursive: true, force: true }) };
  }
  const path = resolve(explicit);
  try {
    mkdirSync(path, { recursive: true, mode: 0o711 });
    accessSync(path, constants.W_OK | constants.X_OK);
    // Probes the filesystem too: access() says yes to root on a read-only mount.
    rmdirSync(mkdtempSync(join(path, '.kuma-dp-probe-')));
  } catch (err) {
    const cause = await realCause(path, err as NodeJS.ErrnoException);
    throw new ConfigError(`work dir ${path} (${origin}) cannot be used: ${describeFsError(cause)}`, {
      hint: 'point --work-dir at a writable directory',
    });
  }
  const { mode } = statSync(path);
  if (mode & 0o002 && !(mode & 0o1000)) {
    // Anyone could replace bootstrap.yaml between our write and Envoy's read, or plant a pid file.
    throw new ConfigError(`work dir ${path} (${origin}) is writable by every user`, {
      hint: `chmod 0711 ${path}, or point --work-dir at a directory only kuma-dp's user can write`,
    });
  }
  return { path, temporary: false, cleanup: async () => {} };
}
