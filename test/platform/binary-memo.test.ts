import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binaryMemo } from '../../src/platform/binary-memo.js';
import { writeExecutable } from '../support/executable.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

const LINE = 'envoy  version: abc/1.34.1/Clean/RELEASE/BoringSSL';

describe('platform/binary-memo', () => {
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

  it("recalls the answer the same, unchanged binary gave, and nothing before that", () => {
    expect(binaryMemo(memoFile, binary).recalled).to.equal(undefined);
    binaryMemo(memoFile, binary).remember(LINE);
    expect(binaryMemo(memoFile, binary).recalled).to.equal(LINE);
    expect(readdirSync(join(dir, 'cache')), 'no staging file left').to.deep.equal(['envoy-versions.json']);
  });

  it('forgets a binary rewritten in place with its times set back, or replaced', async () => {
    binaryMemo(memoFile, binary).remember(LINE);
    await nextTimeTick(binary);
    // The same bytes in the same inode, its times set back as `cp --preserve` or `touch -r` would.
    const { atime, mtime } = statSync(binary);
    writeFileSync(binary, readFileSync(binary));
    utimesSync(binary, atime, mtime);
    expect(binaryMemo(memoFile, binary).recalled, 'rewritten in place').to.equal(undefined);

    binaryMemo(memoFile, binary).remember(LINE);
    writeExecutable(`${binary}.new`, readFileSync(binary));
    renameSync(`${binary}.new`, binary);
    expect(binaryMemo(memoFile, binary).recalled, 'replaced by another file').to.equal(undefined);
  });

  it('takes the identity from when it was opened, before the binary was asked: one changed meanwhile is not remembered as the new one', async () => {
    const memo = binaryMemo(memoFile, binary);
    await nextTimeTick(binary);
    writeExecutable(binary, '#!/bin/sh\n# another build\n');
    memo.remember(LINE);
    expect(binaryMemo(memoFile, binary).recalled).to.equal(undefined);
  });

  it('forgets a binary that failed to answer, and keeps the others', () => {
    const other = writeExecutable(join(dir, 'other-envoy'), '#!/bin/sh\n# other\n');
    binaryMemo(memoFile, binary).remember(LINE);
    binaryMemo(memoFile, other).remember(LINE);
    binaryMemo(memoFile, binary).forget();
    expect(binaryMemo(memoFile, binary).recalled).to.equal(undefined);
    expect(binaryMemo(memoFile, other).recalled).to.equal(LINE);
  });

  it('keeps only an answer of sensible length: a longer one forgets the binary', () => {
    binaryMemo(memoFile, binary).remember(`envoy  version: ${'x'.repeat(600)}`);
    expect(existsSync(memoFile), 'nothing to forget, nothing written').to.equal(false);
    binaryMemo(memoFile, binary).remember(LINE);
    binaryMemo(memoFile, binary).remember(`envoy  version: ${'x'.repeat(600)}`);
    expect(binaryMemo(memoFile, binary).recalled, 'too long').to.equal(undefined);
  });

  it('keeps the 16 binaries remembered last, and ignores a memo file that is not its own', () => {
    const binaries = Array.from({ length: 18 }, (_, i) => writeExecutable(join(dir, `envoy-${i}`), `#!/bin/sh\n# ${i}\n`));
    for (const [i, path] of binaries.entries()) binaryMemo(memoFile, path).remember(`envoy  version: abc/1.34.${i}/Clean`);
    expect(binaryMemo(memoFile, binaries[0]!).recalled, 'the oldest forgotten').to.equal(undefined);
    expect(binaryMemo(memoFile, binaries[1]!).recalled).to.equal(undefined);
    expect(binaryMemo(memoFile, binaries[2]!).recalled).to.equal('envoy  version: abc/1.34.2/Clean');
    expect(binaryMemo(memoFile, binaries[17]!).recalled).to.equal('envoy  version: abc/1.34.17/Clean');

    writeFileSync(memoFile, '[1, 2');
    expect(binaryMemo(memoFile, binary).recalled).to.equal(undefined);
    binaryMemo(memoFile, binary).remember(LINE);
    expect(binaryMemo(memoFile, binary).recalled, 'replaced by a good one').to.equal(LINE);
  });

  it('remembers nothing where the memo cannot be written, and says nothing about it', () => {
    const blocked = join(dir, 'file-not-dir', 'envoy-versions.json');
    writeFileSync(join(dir, 'file-not-dir'), '');
    expect(() => binaryMemo(blocked, binary).remember(LINE)).not.to.throw();
    expect(binaryMemo(blocked, binary).recalled).to.equal(undefined);
  });
});
