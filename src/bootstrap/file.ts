import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { KumaDpError } from '../errors.js';
import { writeFileAtomic } from '../platform/atomic-file.js';
import { describeFsError } from '../platform/fs-errors.js';

export const BOOTSTRAP_FILE_NAME = 'bootstrap.yaml';

/** Writes `<workDir>/bootstrap.yaml` (0600, atomically) and returns its path. */
export async function writeBootstrapFile(workDir: string, yaml: string): Promise<string> {
  const path = join(workDir, BOOTSTRAP_FILE_NAME);
  try {
    mkdirSync(workDir, { recursive: true, mode: 0o711 });
    writeFileAtomic(path, yaml, 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KumaDpError(`cannot write the Envoy bootstrap ${path}: ${describeFsError(err as NodeJS.ErrnoException)}`, {
      hint: code === 'ENOSPC' ? 'free space on that filesystem or point --work-dir elsewhere' : 'check the permissions and space of --work-dir',
    });
  }
  return path;
}
