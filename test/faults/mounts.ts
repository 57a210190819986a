import { spawnSync } from 'node:child_process';
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../support/tmp.js';

/**
 * A tiny tmpfs of its own, for faults a path trick cannot fake: a full disk (ENOSPC) and a
 * read-only filesystem (EROFS, which root is subject to, unlike permission bits). Needs root and
 * CAP_SYS_ADMIN; where mounting is refused, `mountTmpfs` returns undefined and tests skip.
 */
export interface Tmpfs {
  path: string;
  /** Fills the filesystem to the last byte. */
  fill(): void;
  unmount(): void;
}

function run(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

export function mountTmpfs(options: { sizeKb: number; readOnly?: boolean; prepare?: (path: string) => void }): Tmpfs | undefined {
  const path = join(makeTempDir('kuma-dp-fault-fs'), 'mnt');
  mkdirSync(path);
  if (!run('mount', ['-t', 'tmpfs', '-o', `size=${options.sizeKb}k,mode=0755`, 'tmpfs', path])) {
    rmdirSync(path);
    return undefined;
  }
  const unmount = (): void => {
    if (!run('umount', [path])) run('umount', ['-l', path]);
  };
  options.prepare?.(path);
  if (options.readOnly && !run('mount', ['-o', 'remount,ro', path])) {
    unmount();
    return undefined;
  }
  return {
    path,
    fill: () => {
      // dd stops at ENOSPC with a non-zero status: the point of the exercise.
      spawnSync('dd', ['if=/dev/zero', `of=${join(path, 'filler')}`, 'bs=4096'], { stdio: 'ignore' });
      for (let i = 0; i < 1000; i++) {
        // Tail blocks and inodes: small files until not even one byte fits.
        try {
          writeFileSync(join(path, `filler-${i}`), 'x');
        } catch {
          break;
        }
      }
    },
    unmount,
  };
}
