import { expect } from 'chai';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeBootstrapFile } from '../../src/bootstrap/file.js';
import { writeFileAtomic } from '../../src/platform/atomic-file.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';

describe('bootstrap file', () => {
  after(cleanupTempDirs);

  it('writes <workdir>/bootstrap.yaml with mode 0600 whatever the umask', async () => {
    const dir = makeTempDir('bootstrap-file');
    const previous = process.umask(0o000);
    try {
      const path = await writeBootstrapFile(dir, 'node:\n  id: default.web-1\n');
      expect(path).to.equal(join(dir, 'bootstrap.yaml'));
      expect(readFileSync(path, 'utf8')).to.equal('node:\n  id: default.web-1\n');
      expect(statSync(path).mode & 0o777).to.equal(0o600);
    } finally {
      process.umask(previous);
    }
  });

  it('creates a missing (nested) work dir', async () => {
    const dir = join(makeTempDir('bootstrap-file'), 'a', 'b');
    const path = await writeBootstrapFile(dir, 'x: 1\n');
    expect(readFileSync(path, 'utf8')).to.equal('x: 1\n');
  });

  it('replaces an existing file and leaves no temp file behind', async () => {
    const dir = makeTempDir('bootstrap-file');
    const path = join(dir, 'bootstrap.yaml');
    writeFileSync(path, 'old', { mode: 0o644 });
    await writeFileAtomic(path, 'new');
    expect(readFileSync(path, 'utf8')).to.equal('new');
    expect(statSync(path).mode & 0o777).to.equal(0o600);
    expect(readdirSync(dir)).to.deep.equal(['bootstrap.yaml']);
  });

  it('honours an explicit mode', async () => {
    const dir = makeTempDir('bootstrap-file');
    const path = join(dir, 'shared.txt');
    await writeFileAtomic(path, 'x', 0o644);
    expect(statSync(path).mode & 0o777).to.equal(0o644);
  });

  it('on a failed replace leaves the target untouched and removes the temp file', async () => {
    const dir = makeTempDir('bootstrap-file');
    // A non-empty directory cannot be replaced by a file: rename fails after the data was written.
    const target = join(dir, 'bootstrap.yaml');
    mkdirSync(target);
    writeFileSync(join(target, 'keep'), 'kept');
    let error: unknown;
    try {
      await writeFileAtomic(target, 'new content');
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(Error);
    expect(readFileSync(join(target, 'keep'), 'utf8')).to.equal('kept');
    expect(readdirSync(dir)).to.deep.equal(['bootstrap.yaml']);
  });

  it('never exposes a partial file to a concurrent reader', async () => {
    const dir = makeTempDir('bootstrap-file');
    const path = join(dir, 'bootstrap.yaml');
    const size = 1 << 20;
    const contents = ['a', 'b', 'c', 'd'].map((c) => c.repeat(size));
    await writeFileAtomic(path, contents[0]!);
    let writing = true;
    const writer = (async () => {
      for (let round = 0; round < 12; round++) await writeFileAtomic(path, contents[round % contents.length]!);
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const seen = await readFile(path, 'utf8');
      reads++;
      expect(seen.length, 'a reader saw a partial file').to.equal(size);
      expect(contents).to.include(seen);
    }
    await writer;
    expect(reads).to.be.greaterThan(0);
  });
});
