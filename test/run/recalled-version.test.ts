import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENVOY_VERSIONS_FILE } from '../../src/cli/early-start.js';
import { eventsOf } from '../doubles/envoy-record.js';
import { defaultBootstrapYaml } from '../doubles/kuma-cp-double.js';
import { cleanupTempDirs } from '../support/tmp.js';
import { runKumaDp, withTakenPort } from '../support/kuma-dp.js';
import { waitFor } from '../support/wait.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';
import { packageCopy, type PackageCopy } from '../support/package-copy.js';

const envoyVersionOf = (body: Record<string, unknown> | undefined): string => (body!.version as { envoy: { version: string } }).envoy.version;

/**
 * `run` remembers what an Envoy binary printed for `--version` (src/cli/early-start.ts, src/platform/binary-memo.ts) and,
 * for the same unchanged binary, sends the bootstrap request with it while `--version` runs again.
 */
describe("kuma-dp run: the bootstrap request with the version Envoy printed the last time", function () {
  let fx: RunFixture;
  // A package of each test's own: the memo it writes beside the bundle is not the checkout's.
  let pkg: PackageCopy;
  beforeEach(async () => {
    pkg = packageCopy();
    // Each bootstrap says which version it was asked for: the one Envoy got is then known.
    fx = await runFixture({ cp: { bootstrapForRequest: (rec) => `${defaultBootstrapYaml(rec.body)}\n# for Envoy ${envoyVersionOf(rec.body)}\n` } });
  });
  afterEach(async () => {
    await fx.close();
  });
  after(cleanupTempDirs);

  /** The launcher keeps the memo beside the bundle's code caches (src/cli/launcher.ts). */
  const remembered = (binary: string): string | undefined =>
    (JSON.parse(readFileSync(join(pkg.bundleDir, 'code-cache', ENVOY_VERSIONS_FILE), 'utf8')) as Record<string, { line: string }>)[binary]?.line;

  const versionAnswers = () => eventsOf(fx.record(), 'early-exit').filter((e) => e.argv.includes('--version'));

  /** One run until its Envoy is live, then SIGTERM; returns its stderr. */
  async function runUntilLive(env: NodeJS.ProcessEnv, live: number): Promise<string> {
    const dp = fx.start([], { bin: pkg.bin, env });
    await fx.waitLive(dp, live);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
    return dp.stderr();
  }

  /** Env for a run whose `--version` answers only when the test opens the gate. */
  function gated(): { env: NodeJS.ProcessEnv; open(): void } {
    const gate = join(fx.dir, `gate-${Math.random().toString(16).slice(2)}`);
    return { env: { ENVOY_DOUBLE_VERSION_GATE: gate }, open: () => writeFileSync(gate, '') };
  }

  it('sends the request while --version still runs, and starts Envoy only after its answer', async () => {
    await runUntilLive({}, 1);
    expect(fx.cp.requests[0]!.t, 'the first time, the request waits for the answer').to.be.at.least(versionAnswers()[0]!.t);

    const gate = gated();
    const dp = fx.start([], { bin: pkg.bin, env: gate.env });
    await waitFor(() => fx.cp.requests.length >= 2, { timeoutMs: 15_000, what: 'the request of the second run, --version still unanswered' });
    gate.open();
    await fx.waitLive(dp, 2);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
    expect(fx.cp.requests, 'one request per run').to.have.length(2);
    const answer = versionAnswers()[1]!;
    expect(fx.cp.requests[1]!.t).to.be.below(answer.t);
    expect(envoyVersionOf(fx.cp.requests[1]!.body)).to.equal('1.34.1');
    expect(eventsOf(fx.record(), 'start')[1]!.t, 'Envoy starts after the answer').to.be.at.least(answer.t);
  });

  it('asks again when --version prints another version than the last time, and Envoy gets that bootstrap', async () => {
    await runUntilLive({}, 1);
    const gate = gated();
    const dp = fx.start([], { bin: pkg.bin, env: { ...gate.env, ENVOY_DOUBLE_VERSION: '1.34.2' } });
    await waitFor(() => fx.cp.requests.length >= 2, { timeoutMs: 15_000, what: 'the request with the recalled version' });
    gate.open();
    await fx.waitLive(dp, 2);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
    expect(fx.cp.requests.map((r) => envoyVersionOf(r.body))).to.deep.equal(['1.34.1', '1.34.1', '1.34.2']);
    expect(dp.stderr()).to.include('Envoy printed another version than the last time; fetching the bootstrap again');
    expect(readFileSync(join(fx.workDir, 'bootstrap.yaml'), 'utf8')).to.include('# for Envoy 1.34.2');
  });

  it('abandons the retries of the recalled version when --version prints another one', async () => {
    await runUntilLive({}, 1);
    // The control plane fails every request from here on: only a new request can carry 1.34.2.
    fx.cp.setScript(Array.from({ length: 1000 }, () => ({ status: 503 })));
    const gate = gated();
    const dp = fx.start([], { bin: pkg.bin, env: { ...gate.env, ENVOY_DOUBLE_VERSION: '1.34.2', KUMA_CONTROL_PLANE_RETRY_BACKOFF: '50ms', KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '5m' } });
    await waitFor(() => fx.cp.requests.length >= 3, { timeoutMs: 15_000, what: 'the recalled version retried' });
    gate.open();
    await waitFor(() => fx.cp.requests.some((r) => envoyVersionOf(r.body) === '1.34.2'), { timeoutMs: 5000, what: 'a request with the version --version printed' });
    const askedAgainAt = fx.cp.requests.findIndex((r) => envoyVersionOf(r.body) === '1.34.2');
    await waitFor(() => fx.cp.requests.length >= askedAgainAt + 3, { timeoutMs: 5000, what: 'two more retries' });
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
    // At most one request with the old version may have been in flight when the answer came.
    const oldAfter = fx.cp.requests.slice(askedAgainAt).filter((r) => envoyVersionOf(r.body) === '1.34.1');
    expect(oldAfter.length, 'the recalled version no longer retried').to.be.at.most(1);
  });

  it('a --version that fails ends the run with exit 2 at once, although the request is still being retried', async () => {
    await runUntilLive({}, 1);
    fx.cp.setScript(Array.from({ length: 1000 }, () => ({ status: 503 })));
    const gate = gated();
    const dp = fx.start([], {
      bin: pkg.bin,
      env: { ...gate.env, ENVOY_DOUBLE_VERSION: 'not-a-release', KUMA_CONTROL_PLANE_RETRY_BACKOFF: '50ms', KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '5m' },
    });
    await waitFor(() => fx.cp.requests.length >= 3, { timeoutMs: 15_000, what: 'the recalled version retried' });
    gate.open();
    const status = await dp.waitForExit(5000);
    expect(status.code, dp.stderr()).to.equal(2);
    expect(dp.stderr()).to.include('printed no usable version');
    expect(eventsOf(fx.record(), 'start'), 'no Envoy started').to.have.length(1);
  });

  it('forgets a binary whose --version failed, and remembers one that answers again', async () => {
    await runUntilLive({}, 1);
    expect(remembered(fx.envoyPath), 'after a good start').to.include('/1.34.1/');
    const failed = await runKumaDp(fx.args(), { bin: pkg.bin, env: { ...fx.env, ENVOY_DOUBLE_VERSION_FAIL: 'error while loading shared libraries' } });
    expect(failed.code, failed.stderr).to.equal(2);
    expect(failed.stderr).to.include('error while loading shared libraries');
    expect(remembered(fx.envoyPath), 'after a failed --version').to.equal(undefined);
    await runUntilLive({}, 2);
    expect(remembered(fx.envoyPath)).to.include('/1.34.1/');
  });

  it('a failing --version is still the one line when the readiness port is taken too, as when --version is awaited first', async () => {
    await runUntilLive({}, 1);
    await withTakenPort(fx.readinessPort, async () => {
      const result = await runKumaDp(fx.args(), { bin: pkg.bin, env: { ...fx.env, ENVOY_DOUBLE_VERSION_FAIL: 'error while loading shared libraries' } });
      expect(result.code, result.stderr).to.equal(2);
      const errors = result.stderr.split('\n').filter((line) => line.startsWith('Error: '));
      expect(errors).to.have.length(1);
      expect(errors[0]).to.include('error while loading shared libraries').and.not.to.include('readiness port');
    });
  });
});
