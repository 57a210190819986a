import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { expect } from 'chai';
import { BackgroundValidator, checkProcessLaunch, schemaCheckSnapshotName } from '../../src/bootstrap/schema/background.js';
import { PACKAGE_ROOT } from '../../src/package-root.js';
import { packageCopy } from '../support/package-copy.js';
import { runFixture } from '../support/run-fixture.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { KumaDpError } from '../../src/errors.js';
import { rejectionOf } from '../support/errors.js';
import { childrenRunning, processGone } from '../support/kuma-dp.js';
import { waitFor } from '../support/wait.js';

const CHECK = 'check-process.js';

const GOOD = {
  node: { id: 'default.web-1', cluster: 'web' },
  static_resources: { clusters: [{ name: 'ads_cluster', connect_timeout: '1s', type: 'STATIC' }] },
};

function helperPid(): number {
  const pids = childrenRunning(process.pid, CHECK);
  expect(pids, 'one schema check process').to.have.length(1);
  return pids[0]!;
}

/** The schema check in its helper process, as `run` uses it. */
describe('BackgroundValidator (the schema check process)', function () {
  this.timeout(20_000);
  let validator: BackgroundValidator | undefined;
  afterEach(async () => {
    validator?.close();
    // Gone before the next test counts check processes.
    await waitFor(() => childrenRunning(process.pid, CHECK).length + childrenRunning(process.pid, 'schema-check').length === 0, {
      timeoutMs: 10_000,
      what: 'the check processes of the test to exit',
    });
  });

  it('checks documents in its own process, one after another', async () => {
    validator = new BackgroundValidator();
    expect(await validator.validate(GOOD, 'first')).to.deep.equal({ ok: true });
    const bad = await validator.validate({ ...GOOD, static_resources: { clusters: [{ name: 'x', conect_timeout: '1s' }] } }, 'second');
    expect(bad.ok).to.equal(false);
    if (bad.ok) return;
    expect(bad.summary).to.match(/^second: static_resources\.clusters\[0\]\.conect_timeout: unknown field "conect_timeout".*did you mean "connect_timeout"/);
  });

  it('exits once closed, and kuma-dp does not wait for it', async () => {
    validator = new BackgroundValidator();
    await validator.validate(GOOD, 'warm');
    const pid = helperPid();
    validator.close();
    await waitFor(() => processGone(pid), { timeoutMs: 5000, what: 'the schema check to exit after close()' });
    expect((await rejectionOf(validator.validate(GOOD, 'late'), KumaDpError)).message).to.equal('the bootstrap schema check could not run: it was closed');
  });

  it('a check that dies fails every pending and later request with exit 1, naming how it died', async () => {
    validator = new BackgroundValidator();
    await waitFor(() => childrenRunning(process.pid, CHECK).length === 1, { timeoutMs: 5000, what: 'the schema check to start' });
    const pending = validator.validate(GOOD, 'pending');
    process.kill(helperPid(), 'SIGKILL');
    const failure = await rejectionOf(pending, KumaDpError);
    expect(failure.exitCode, 'our failure, not the bootstrap\'s').to.equal(1);
    expect(failure.message).to.equal('the bootstrap schema check could not run: it exited (SIGKILL)');
    expect((await rejectionOf(validator.validate(GOOD, 'later'), KumaDpError)).message).to.equal(failure.message);
  });

  it('a document nested deeper than it can be sent is refused as the document\'s problem, and the check goes on', async () => {
    validator = new BackgroundValidator();
    let innermost: Record<string, unknown> = {};
    const deep = { static_resources: { clusters: [{ name: 'x', metadata: { filter_metadata: { a: innermost } } }] } };
    for (let depth = 0; depth < 20_000; depth++) innermost = innermost.k = {};
    const verdict = await validator.validate(deep, 'deep');
    expect(verdict.ok).to.equal(false);
    if (!verdict.ok) expect(verdict.summary).to.match(/^deep: \(root\): nested too deeply to check \(Maximum call stack size exceeded\)$/);
    expect(await validator.validate(GOOD, 'next')).to.deep.equal({ ok: true });
  });

  it('a snapshot that will not start falls back to the script and answers what was asked meanwhile', async () => {
    const damaged = join(makeTempDir('kdp-blob'), 'damaged.blob');
    writeFileSync(damaged, Buffer.alloc(4096, 7));
    validator = new BackgroundValidator({ modulePath: fileURLToPath(new URL(`../../src/bootstrap/schema/${CHECK}`, import.meta.url)), execArgv: ['--snapshot-blob', damaged] });
    const asked = validator.validate(GOOD, 'asked while the snapshot dies');
    expect(await asked).to.deep.equal({ ok: true });
    expect(await validator.validate(GOOD, 'later')).to.deep.equal({ ok: true });
  });

  it('a snapshot check that exits before its first answer falls back to the script too', async () => {
    const bundle = join(PACKAGE_ROOT, 'dist', 'bundle');
    // An option node refuses: exit 9 before anything runs, like a snapshot refused with exit 14.
    validator = new BackgroundValidator({ modulePath: join(bundle, 'schema-check.cjs'), execArgv: ['--snapshot-blob', join(bundle, schemaCheckSnapshotName()), '--not-a-node-option'] });
    expect(await validator.validate(GOOD, 'asked while it exits')).to.deep.equal({ ok: true });
  });

  it('a check from the snapshot killed from outside (SIGKILL) is a failure, not a refused snapshot', async () => {
    const bundle = join(PACKAGE_ROOT, 'dist', 'bundle');
    validator = new BackgroundValidator({ modulePath: join(bundle, 'schema-check.cjs'), execArgv: ['--snapshot-blob', join(bundle, schemaCheckSnapshotName())] });
    const [pid] = childrenRunning(process.pid, 'schema-check');
    process.kill(pid!, 'SIGKILL');
    const failure = await rejectionOf(validator.validate(GOOD, 'pending'), KumaDpError);
    expect(failure.message).to.equal('the bootstrap schema check could not run: it exited (SIGKILL)');
  });

  it('ignores a terminal Ctrl-C (kuma-dp decides when it ends)', async () => {
    validator = new BackgroundValidator();
    await validator.validate(GOOD, 'warm');
    process.kill(helperPid(), 'SIGINT');
    expect(await validator.validate(GOOD, 'after SIGINT')).to.deep.equal({ ok: true });
  });
});

describe('the schema check process from the bundle', function () {
  this.timeout(30_000);
  afterEach(cleanupTempDirs);

  it('starts from its startup snapshot when there is one for this node, else from its script', () => {
    const bundle = 'file:///opt/kuma-dp/dist/bundle/main.cjs';
    const blob = `/opt/kuma-dp/dist/bundle/${schemaCheckSnapshotName()}`;
    expect(checkProcessLaunch(bundle, (path) => path === blob)).to.deep.equal({
      modulePath: '/opt/kuma-dp/dist/bundle/schema-check.cjs',
      execArgv: ['--snapshot-blob', blob],
    });
    expect(checkProcessLaunch(bundle, () => false)).to.deep.equal({ modulePath: '/opt/kuma-dp/dist/bundle/schema-check.cjs', execArgv: [] });
    expect(checkProcessLaunch('file:///opt/kuma-dp/dist/src/bootstrap/schema/background.js', () => true)).to.deep.equal({
      modulePath: '/opt/kuma-dp/dist/src/bootstrap/schema/check-process.js',
      execArgv: [],
    });
    expect(schemaCheckSnapshotName('v20.20.2', 'x64')).to.equal('schema-check-v20.20.2-x64.blob');
  });

  it('gives the same verdicts from the snapshot, without it, and with one this node cannot start', async () => {
    const { defaultBootstrapYaml } = await import('../doubles/kuma-cp-double.js');
    const snapshot = schemaCheckSnapshotName();
    expect(existsSync(join(PACKAGE_ROOT, 'dist', 'bundle', snapshot)), 'the build made a snapshot for this node').to.equal(true);
    const copies = [
      { label: 'from the snapshot', copy: packageCopy() },
      { label: 'without the snapshot', copy: packageCopy({ omit: [snapshot] }) },
      // Node aborts on it (SIGABRT), as on one made by another node build.
      { label: 'with a damaged snapshot', copy: packageCopy({ replace: { [snapshot]: Buffer.alloc(4096, 7) } }) },
    ];
    for (const { label, copy } of copies) {
      const { bin } = copy;
      const good = await runFixture();
      try {
        const dp = good.start([], { bin });
        await good.waitLive(dp);
        dp.signal('SIGTERM');
        expect((await dp.waitForExit()).code, label).to.equal(0);
      } finally {
        await good.close();
      }
      const bad = await runFixture({ cp: { bootstrapForRequest: (req) => defaultBootstrapYaml(req.body).replace(/^admin:/m, 'admn: {}\nadmin:') } });
      try {
        const dp = bad.start([], { bin });
        expect((await dp.waitForExit()).code, label).to.equal(1);
        expect(dp.stderr().trim().split('\n').at(-1), label).to.match(/^Error: the control plane's bootstrap fails Envoy's schema at admn/);
      } finally {
        await bad.close();
      }
    }
  });
});
