import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'chai';
import { findOnPath, pathDirs } from '../../src/platform/executables.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';

function tool(dir: string, mode = 0o755): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'kdp-tool');
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, mode);
  return path;
}

describe('PATH lookup (setpriv and friends)', () => {
  after(cleanupTempDirs);

  it('skips relative PATH entries (they would depend on the current directory) and files it cannot execute', () => {
    const root = makeTempDir('kdp-path');
    const viaRelative = relative(process.cwd(), join(root, 'rel'));
    tool(join(root, 'rel'));
    tool(join(root, 'noexec'), 0o644);
    const found = tool(join(root, 'abs'));
    const env = { PATH: `${viaRelative}::${join(root, 'noexec')}:${join(root, 'abs')}:${join(root, 'abs')}` };
    expect(findOnPath('kdp-tool', env)).to.equal(found);
    expect(pathDirs(env)).to.deep.equal([join(root, 'noexec'), join(root, 'abs')]);
    expect(findOnPath('kdp-no-such-tool', env)).to.equal(undefined);
  });
});
