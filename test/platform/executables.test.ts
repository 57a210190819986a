import { join, relative } from 'node:path';
import { expect } from 'chai';
import { findOnPath, pathDirs } from '../../src/platform/executables.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { writeExecutable } from '../support/executable.js';

const tool = (dir: string, mode = 0o755): string => writeExecutable(join(dir, 'kdp-tool'), '#!/bin/sh\n', mode);

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
