import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const created: string[] = [];

/**
 * Creates a fresh directory under os.tmpdir(). The path stays short on purpose: unix socket paths
 * (admin pipes live in work dirs) are limited to about 107 bytes.
 */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
  created.push(dir);
  return dir;
}

/** Removes every directory made by makeTempDir so far; meant for `after`/`afterEach` hooks. */
export function cleanupTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}
