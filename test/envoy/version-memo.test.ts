import { expect } from 'chai';
import { readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { versionMemo } from '../../src/envoy/version-memo.js';
import { writeExecutable } from '../support/executable.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

const OUTPUT = '\nenvoy  version: abc/1.34.1/Clean/RELEASE/BoringSSL\n\n';
const LINE = 'envoy  version: abc/1.34.1/Clean/RELEASE/BoringSSL';

describe('envoy/version-memo', () => {
  let dir: string;
  let memoFile: string;
  let binary: string;
  beforeEach(() => {
    dir = makeTempDir('kuma-dp-memo-');
    memoFile = join(dir, 'cache', 'envoy-versions.json');
    binary = writeExecutable(join(dir, 'envoy'), '#!/bin/sh\n');
  });
  after(cleanupTempDirs);

  /**
   * Waits until a file written now gets another change time than `path`: on kernels whose file
   * times move in ticks of a few ms, a change within the same tick would keep the identity.
   */
  const nextTimeTick = (path: string) =>
    waitFor(
      () => {
        writeFileSync(join(dir, 'tick'), '');
        return statSync(join(dir, 'tick')).ctimeMs !== statSync(path).ctimeMs;
      },
      { timeoutMs: 2000, what: 'the file clock to move on' },
    );

  it("recalls the version line the same, unchanged binary printed, and nothing before that", () => {
    expect(versionMemo(memoFile, binary).recalled).to.equal(undefined);
    versionMemo(memoFile, binary).remember(OUTPUT);
    expect(versionMemo(memoFile, binary).recalled).to.equal(LINE);
    expect(readdirSync(join(dir, 'cache')), 'no staging file left').to.deep.equal(['envoy-versions.json']);
  });

  it('forgets a binary rewritten in place with its times set back, or replaced', async () => {
    versionMemo(memoFile, binary).remember(OUTPUT);
    await nextTimeTick(binary);
    // The same bytes in the same inode, its times set back as `cp --preserve` or `touch -r` would.
    const { atime, mtime } = statSync(binary);
    writeFileSync(binary, readFileSync(binary));
    utimesSync(binary, atime, mtime);
    expect(versionMemo(memoFile, binary).recalled, 'rewritten in place').to.equal(undefined);

    versionMemo(memoFile, binary).remember(OUTPUT);
    writeExecutable(`${binary}.new`, readFileSync(binary));
    renameSync(`${binary}.new`, binary);
    expect(versionMemo(memoFile, binary).recalled, 'replaced by another file').to.equal(undefined);
  });

  it('takes the identity from before --version ran: a binary changed meanwhile is not remembered as the new one', async () => {
    const memo = versionMemo(memoFile, binary);
    await nextTimeTick(binary);
    writeExecutable(binary, '#!/bin/sh\n# another build\n');
    memo.remember(OUTPUT);
    expect(versionMemo(memoFile, binary).recalled).to.equal(undefined);
  });

  it('forgets a binary whose --version failed, and keeps the others', () => {
    const other = writeExecutable(join(dir, 'other-envoy'), '#!/bin/sh\n# other\n');
    versionMemo(memoFile, binary).remember(OUTPUT);
    versionMemo(memoFile, other).remember(OUTPUT);
    versionMemo(memoFile, binary).forget();
    expect(versionMemo(memoFile, binary).recalled).to.equal(undefined);
    expect(versionMemo(memoFile, other).recalled).to.equal(LINE);
  });

  it('keeps only a version line of sensible length, and forgets the binary when there is none', () => {
    versionMemo(memoFile, binary).remember(OUTPUT);
    versionMemo(memoFile, binary).remember(`envoy  version: ${'x'.repeat(600)}\n`);
    expect(versionMemo(memoFile, binary).recalled, 'too long').to.equal(undefined);
    versionMemo(memoFile, binary).remember(OUTPUT);
    versionMemo(memoFile, binary).remember('Usage: envoy [options]\n');
    expect(versionMemo(memoFile, binary).recalled, 'no version line').to.equal(undefined);
  });

  it('keeps the 16 binaries remembered last, and ignores a memo file that is not its own', () => {
    const binaries = Array.from({ length: 18 }, (_, i) => writeExecutable(join(dir, `envoy-${i}`), `#!/bin/sh\n# ${i}\n`));
    for (const [i, path] of binaries.entries()) versionMemo(memoFile, path).remember(`envoy  version: abc/1.34.${i}/Clean\n`);
    expect(versionMemo(memoFile, binaries[0]!).recalled, 'the oldest forgotten').to.equal(undefined);
    expect(versionMemo(memoFile, binaries[1]!).recalled).to.equal(undefined);
    expect(versionMemo(memoFile, binaries[2]!).recalled).to.equal('envoy  version: abc/1.34.2/Clean');
    expect(versionMemo(memoFile, binaries[17]!).recalled).to.equal('envoy  version: abc/1.34.17/Clean');

    writeFileSync(memoFile, '[1, 2');
    expect(versionMemo(memoFile, binary).recalled).to.equal(undefined);
    versionMemo(memoFile, binary).remember(OUTPUT);
    expect(versionMemo(memoFile, binary).recalled, 'replaced by a good one').to.equal(LINE);
  });

  it('remembers nothing where the memo cannot be written, and says nothing about it', () => {
    const blocked = join(dir, 'file-not-dir', 'envoy-versions.json');
    writeFileSync(join(dir, 'file-not-dir'), '');
    expect(() => versionMemo(blocked, binary).remember(OUTPUT)).not.to.throw();
    expect(versionMemo(blocked, binary).recalled).to.equal(undefined);
  });
});
