import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findStaleEnvoy, processStartTime, PID_FILE } from '../../src/platform/pidfile.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';

describe('pid file: which recorded Envoy may be stopped', () => {
  let dir: string;
  let child: ChildProcess;
  beforeEach(() => {
    dir = makeTempDir('kuma-dp-pid-');
    // A stand-in "Envoy" whose command line names this work dir's bootstrap, as ours does.
    child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', join(dir, 'bootstrap.yaml')], { stdio: 'ignore' });
  });
  afterEach(() => child.kill('SIGKILL'));
  after(cleanupTempDirs);

  const record = (fields: Record<string, unknown>) => writeFileSync(join(dir, PID_FILE), JSON.stringify(fields), { mode: 0o600 });

  it('finds the Envoy it recorded: same pid, start time and bootstrap path', async () => {
    record({ pid: child.pid, startTime: processStartTime(child.pid!), configPath: join(dir, 'bootstrap.yaml') });
    expect(await findStaleEnvoy(dir)).to.equal(child.pid);
  });

  it('ignores a record naming another file, even one the process has in its command line', async () => {
    record({ pid: child.pid, startTime: processStartTime(child.pid!), configPath: '-e' });
    expect(await findStaleEnvoy(dir)).to.equal(undefined);
  });

  it('reads an empty or cut-off record (its write lost to a power cut: it is not fsynced) as none', async () => {
    for (const content of ['', '{"pid":']) {
      writeFileSync(join(dir, PID_FILE), content, { mode: 0o600 });
      expect(await findStaleEnvoy(dir), JSON.stringify(content)).to.equal(undefined);
    }
  });

  it('ignores a reused pid (another start time)', async () => {
    record({ pid: child.pid, startTime: '1', configPath: join(dir, 'bootstrap.yaml') });
    expect(await findStaleEnvoy(dir)).to.equal(undefined);
  });
});
