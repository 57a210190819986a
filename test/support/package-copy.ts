import { copyFileSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { makeTempDir } from './tmp.js';

export interface PackageCopy {
  root: string;
  bin: string;
  bundleDir: string;
}

/**
 * A kuma-dp package of its own: bin/kuma-dp copied, the built bundle and the data it reads linked
 * in, and no dist/src (so the bundle is always taken). Tests that write next to the bundle (the
 * code cache) or replace part of it do it here, not in the checkout the rest of the suite runs.
 * `replace`: bundle files written instead of linked, by name.
 */
export function packageCopy({ replace = {} }: { replace?: Record<string, string | Buffer> } = {}): PackageCopy {
  const root = makeTempDir('kdp-pkg');
  mkdirSync(join(root, 'bin'));
  const bin = join(root, 'bin', 'kuma-dp');
  copyFileSync(join(PACKAGE_ROOT, 'bin', 'kuma-dp'), bin);
  copyFileSync(join(PACKAGE_ROOT, 'bin', 'package.json'), join(root, 'bin', 'package.json'));
  // node_modules: the bundle requires its rarely used packages (tar, cli-progress) from beside it.
  for (const shared of ['package.json', 'envoy-bootstrap', 'node_modules']) symlinkSync(join(PACKAGE_ROOT, shared), join(root, shared));
  mkdirSync(join(root, 'dist'));
  symlinkSync(join(PACKAGE_ROOT, 'dist', 'schema'), join(root, 'dist', 'schema'));
  const bundleDir = join(root, 'dist', 'bundle');
  mkdirSync(bundleDir);
  const built = join(PACKAGE_ROOT, 'dist', 'bundle');
  for (const name of readdirSync(built)) {
    if (name === 'code-cache' || name in replace) continue;
    symlinkSync(join(built, name), join(bundleDir, name));
  }
  for (const [name, text] of Object.entries(replace)) writeFileSync(join(bundleDir, name), text);
  return { root, bin, bundleDir };
}
