import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { KumaDpError } from '../errors.js';

export const BOOTSTRAP_FILE_NAME = 'bootstrap.yaml';

/**
 * The OS's own wording for a failed file operation ("no such file or directory"), without Node's
 * `ENOENT: ..., open '<path>'` decoration, so callers can name the path once in their own words.
 */
export function fsErrorReason(err: unknown): string {
  const errno = (err as NodeJS.ErrnoException | undefined)?.errno;
  const described = errno === undefined ? undefined : getSystemErrorMap().get(errno)?.[1];
  return described ?? (err instanceof Error ? err.message : String(err));
}

/**
 * Replaces `path` with `data` so that a reader (Envoy, an operator, a crash) only ever sees the
 * old file or the complete new one: the data goes to a temp file in the same directory (same
 * filesystem, so rename is atomic), is flushed to disk, and is then renamed over `path`. The temp
 * file is created with `mode` already, so a secret never sits in a wider-permission file.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(data);
      // The umask narrows the mode given to open(); the caller asked for this exact one.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  // The directory is not fsynced: if the rename is lost in a crash the old, complete file is
  // still there, and every file written this way is rewritten at the next start anyway.
}

/** Writes `<workDir>/bootstrap.yaml` (0600, atomically) and returns its path. */
export async function writeBootstrapFile(workDir: string, yaml: string): Promise<string> {
  const path = join(workDir, BOOTSTRAP_FILE_NAME);
  try {
    await mkdir(workDir, { recursive: true, mode: 0o711 });
    await writeFileAtomic(path, yaml, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KumaDpError(`cannot write the Envoy bootstrap ${path}: ${fsErrorReason(err)}${code ? ` (${code})` : ''}`, {
      hint: code === 'ENOSPC' ? 'free space on that filesystem or point --work-dir elsewhere' : 'check the permissions and space of --work-dir',
    });
  }
  return path;
}
