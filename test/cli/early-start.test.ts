import { expect } from 'chai';
import { join } from 'node:path';
import { startEarly } from '../../src/cli/early-start.js';
import { writeExecutable } from '../support/executable.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';

describe('cli/early-start: the remembered --version line', () => {
  after(cleanupTempDirs);

  const LINE = 'envoy  version: abc/1.34.1/Clean/RELEASE/BoringSSL';

  it('remembers the version line, recalls it at the next start, and forgets a binary that prints none or one too long', async () => {
    const dir = makeTempDir('kuma-dp-early-');
    // The same file throughout: what it prints comes from the environment.
    const envoy = writeExecutable(join(dir, 'envoy'), '#!/bin/sh\nprintf "%s\\n" "$ENVOY_SAYS"\n');
    const memoDir = join(dir, 'memo');
    const start = async (says: string) => {
      const early = await startEarly(['run', '--binary-path', envoy], { env: { PATH: process.env.PATH, ENVOY_SAYS: says }, cwd: dir, selfDir: dir }, memoDir);
      const recalled = early.envoyVersion!.recalled;
      // startEarly's own handler, registered first, has remembered or forgotten by the time this resumes.
      expect((await early.envoyVersion!.output).stdout).to.equal(`${says}\n`);
      return recalled;
    };

    expect(await start(`\n${LINE}\n`), 'a first start').to.equal(undefined);
    expect(await start('Usage: envoy [options]'), 'recalled').to.equal(LINE);
    expect(await start(LINE), 'no version line: forgotten').to.equal(undefined);
    expect(await start(`envoy  version: ${'x'.repeat(600)}`)).to.equal(LINE);
    expect(await start(LINE), 'too long: forgotten').to.equal(undefined);
  });
});
