import { expect } from 'chai';
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { versionMemo } from '../../src/envoy/version-memo.js';
import { writeExecutable } from '../support/executable.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';

describe('envoy/version-memo', () => {
  let dir: string;
  let memoFile: string;
  let binary: string;
  beforeEach(() => {
    dir = makeTempDir('kuma-dp-memo-');
    memoFile = join(dir, 'cache', 'envoy-versions.json');
    binary = writeExecutable(join(dir, 'envoy'), '#!/bin/sh\necho "envoy  version: abc/1.34.1/Clean/RELEASE/BoringSSL"\n');
  });
  after(cleanupTempDirs);

  it('recalls what the same, unchanged binary printed, and nothing before that', () => {
    expect(versionMemo(memoFile, binary).recalled).to.equal(undefined);
    versionMemo(memoFile, binary).remember('v1');
    expect(versionMemo(memoFile, binary).recalled).to.equal('v1');
    expect(readdirSync(join(dir, 'cache')), 'no staging file left').to.deep.equal(['envoy-versions.json']);
  });

  it('forgets a binary that was rewritten, touched or replaced since', () => {
    versionMemo(memoFile, binary).remember('v1');
    // The same bytes in the same inode, its times set back as `cp --preserve` or `touch -r` would.
    const { atime, mtime } = statSync(binary);
    writeFileSync(binary, readFileSync(binary));
    utimesSync(binary, atime, mtime);
    expect(versionMemo(memoFile, binary).recalled, 'rewritten in place').to.equal(undefined);

    versionMemo(memoFile, binary).remember('v2');
    writeExecutable(`${binary}.new`, readFileSync(binary));
    writeExecutable(binary, readFileSync(`${binary}.new`));
    expect(versionMemo(memoFile, binary).recalled, 'replaced').to.equal(undefined);
  });

  it('takes the identity from before --version ran: a binary changed meanwhile is not remembered as the new one', () => {
    const memo = versionMemo(memoFile, binary);
    writeExecutable(binary, '#!/bin/sh\necho "envoy  version: def/1.35.0/Clean/RELEASE/BoringSSL"\n');
    memo.remember('output of the old binary');
    expect(versionMemo(memoFile, binary).recalled).to.equal(undefined);
  });

  it('keeps the 16 binaries remembered last, and ignores a memo file that is not its own', () => {
    const binaries = Array.from({ length: 18 }, (_, i) => writeExecutable(join(dir, `envoy-${i}`), `#!/bin/sh\n# ${i}\n`));
    for (const [i, path] of binaries.entries()) versionMemo(memoFile, path).remember(`v${i}`);
    expect(versionMemo(memoFile, binaries[0]!).recalled, 'the oldest forgotten').to.equal(undefined);
    expect(versionMemo(memoFile, binaries[1]!).recalled).to.equal(undefined);
    expect(versionMemo(memoFile, binaries[2]!).recalled).to.equal('v2');
    expect(versionMemo(memoFile, binaries[17]!).recalled).to.equal('v17');

    writeFileSync(memoFile, '[1, 2');
    expect(versionMemo(memoFile, binary).recalled).to.equal(undefined);
    versionMemo(memoFile, binary).remember('v1');
    expect(versionMemo(memoFile, binary).recalled, 'replaced by a good one').to.equal('v1');
  });

  it('remembers nothing where the memo cannot be written, and says nothing about it', () => {
    const readOnly = makeTempDir('kuma-dp-memo-ro-');
    const blocked = join(readOnly, 'file-not-dir', 'envoy-versions.json');
    writeFileSync(join(readOnly, 'file-not-dir'), '');
    expect(() => versionMemo(blocked, binary).remember('v1')).not.to.throw();
    expect(versionMemo(blocked, binary).recalled).to.equal(undefined);
  });
});
