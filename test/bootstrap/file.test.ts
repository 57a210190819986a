import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
    const letters = ['a', 'b', 'c', 'd'];
    writeFileAtomic(path, letters[0]!.repeat(size));
    // Another process writes, as another kuma-dp or Envoy would read: writeFileAtomic is synchronous,
    // so within this one no read could fall between its steps.
    const writer = spawn(
      process.execPath,
      ['--input-type=module', '-e', `
        const { writeFileAtomic } = await import(${JSON.stringify(new URL('../../src/platform/atomic-file.js', import.meta.url).href)});
        const contents = ${JSON.stringify(letters)}.map((c) => c.repeat(${size}));
        for (let round = 0; round < 300; round++) writeFileAtomic(${JSON.stringify(path)}, contents[round % contents.length]);
      `],
      { stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((resolve) => writer.once('exit', resolve));
    let done = false;
    void exited.then(() => (done = true));
    let reads = 0;
    while (!done) {
      const seen = readFileSync(path, 'utf8');
      reads++;
      expect(seen.length, 'a reader saw a partial file').to.equal(size);
      expect(seen).to.equal(seen[0]!.repeat(size));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await exited, 'the writer finished').to.equal(0);
    expect(reads, 'reads while the other process wrote').to.be.at.least(5);
  });
});
