import { mkdtempAsync, rmAsync, statAsync } from './fs-async.js';
import { dirname, join } from 'node:path';
import { getSystemErrorMap } from 'node:util';

/**
 * A recursive mkdir under a read-only mount can fail with ENOENT for the part it could not
 * create; trying to write in the first existing ancestor tells the real story (EROFS, EACCES).
 */
export async function realCause(path: string, err: NodeJS.ErrnoException): Promise<NodeJS.ErrnoException> {
  if (err.code !== 'ENOENT') return err;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const exists = await statAsync(dir).then(() => true, () => false);
    if (exists) {
      try {
        await rmAsync(await mkdtempAsync(join(dir, '.kuma-dp-probe-')), { recursive: true });
        return err;
      } catch (probeErr) {
        return probeErr as NodeJS.ErrnoException;
      }
    }
    if (dirname(dir) === dir) return err;
  }
}

/** `no space left on device (ENOSPC)`: the OS's words and the code an operator can search for. */
export function describeFsError(err: NodeJS.ErrnoException): string {
  return `${fsErrorReason(err)}${err.code ? ` (${err.code})` : ''}`;
}

/**
 * The OS's own wording for a failed file operation ("no such file or directory"), without Node's
 * `ENOENT: ..., open '<path>'` decoration, so callers can name the path once in their own words.
 */
export function fsErrorReason(err: unknown): string {
  const errno = (err as NodeJS.ErrnoException | undefined)?.errno;
  const described = errno === undefined ? undefined : getSystemErrorMap().get(errno)?.[1];
  return described ?? (err instanceof Error ? err.message : String(err));
}
