import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The kuma-dp package directory (bin/, envoy-bootstrap/, dist/schema/), found by walking up from
 * this module: the same code runs from dist/src/ and from the start-up bundle in dist/bundle/.
 */
function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'envoy-bootstrap'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`kuma-dp: cannot find the package directory above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

export const PACKAGE_ROOT = findPackageRoot();

export function packagePath(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
