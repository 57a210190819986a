import { closeSync, fchmodSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { tempSuffix } from '../util/temp-suffix.js';

/**
 * Replaces `path` with `data` so that a reader (Envoy, an operator, another kuma-dp) only ever
 * sees the old file or the complete new one: the data goes to a temp file in the same directory
 * (same filesystem, so rename is atomic) and is then renamed over `path`. The temp file is created
 * with `mode` already, so a secret never sits in a wider-permission file.
 *
 * Not fsynced: what is written this way (bootstrap, token, pid file) is rewritten at every start,
 * and after a power loss no Envoy is left for a lost pid file to name (an empty one reads as no
 * record). Durability would buy nothing, while an fsync on a busy disk holds Envoy's start for as
 * long as the disk takes. Synchronous for the same reason: each call of the promise API is a
 * round trip through libuv's thread pool, whose thread needs a core that, while kuma-dp starts,
 * Envoy's `--version` and kuma-dp's own main thread are using (README, performance).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${tempSuffix()}.tmp`);
  const fd = openSync(temp, 'wx', mode);
  try {
    try {
      writeFileSync(fd, data);
      // The umask narrows the mode given to open(); the caller asked for this exact one.
      fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    try {
      rmSync(temp, { force: true });
    } catch {
      // The write's own error is the one to report.
    }
    throw err;
  }
}
