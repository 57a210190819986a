import { expect } from 'chai';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deathSignalWrapper } from '../../src/platform/pdeathsig.js';
import { writeExecutable } from '../support/executable.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';

describe('platform/pdeathsig: the setpriv probe', () => {
  let dir: string;
  let calls: string;
  let memoFile: string;
  beforeEach(() => {
    dir = makeTempDir('kuma-dp-pdeathsig-');
    calls = join(dir, 'calls');
    writeFileSync(calls, '');
    memoFile = join(dir, 'memo', 'setpriv-probes.json');
  });
  after(cleanupTempDirs);

  /**
   * A setpriv that logs each call, then answers --version or execs what follows `--`, as
   * util-linux's does. Installed as a package manager does, by renaming a new file into place.
   */
  const setpriv = (answer = 'exit 0'): string => {
    const path = join(dir, 'bin', 'setpriv');
    writeExecutable(`${path}.new`, `#!/bin/sh\necho "$*" >> '${calls}'\n[ "$1" = --version ] && ${answer}\nshift 3\nexec "$@"\n`);
    renameSync(`${path}.new`, path);
    return path;
  };
  const env = () => ({ PATH: join(dir, 'bin') });
  const probes = () => readFileSync(calls, 'utf8').split('\n').filter((line) => line.startsWith('--pdeathsig')).length;

  it('probes a setpriv once: the same file, unchanged, is taken at its word from then on', async () => {
    const path = setpriv();
    const first = await deathSignalWrapper('linux', env(), memoFile);
    expect(first).to.deep.equal({ prefix: [path, '--pdeathsig', 'SIGKILL', '--'], unavailableReason: undefined });
    expect(probes()).to.equal(1);
    const recalled = await deathSignalWrapper('linux', env(), memoFile);
    expect(recalled).to.deep.include({ prefix: first.prefix, unavailableReason: undefined });
    expect(recalled.forgetRecalled, 'says it is the memo speaking').to.be.a('function');
    expect(probes(), 'not probed again').to.equal(1);
    recalled.forgetRecalled!();
    expect(await deathSignalWrapper('linux', env(), memoFile)).to.deep.equal(first);
    expect(probes(), 'probed once forgotten').to.equal(2);
    expect(await deathSignalWrapper('linux', env()), 'without a memo file').to.deep.equal(first);
    expect(probes()).to.equal(3);
  });

  it('probes again a setpriv that was replaced, and at every start one that failed', async () => {
    setpriv();
    await deathSignalWrapper('linux', env(), memoFile);
    const path = setpriv('exit 1');
    const failed = await deathSignalWrapper('linux', env(), memoFile);
    expect(failed).to.deep.equal({ prefix: [], unavailableReason: `${path} does not support --pdeathsig (util-linux 2.33 or later does)` });
    expect(probes(), 'the replaced binary probed').to.equal(2);
    expect(await deathSignalWrapper('linux', env(), memoFile)).to.deep.equal(failed);
    expect(probes(), 'a failure is not remembered').to.equal(3);
  });
});
