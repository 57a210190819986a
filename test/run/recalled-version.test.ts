import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventsOf } from '../doubles/envoy-record.js';
import { defaultBootstrapYaml } from '../doubles/kuma-cp-double.js';
import { cleanupTempDirs } from '../support/tmp.js';
import { runKumaDp } from '../support/kuma-dp.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';

const envoyVersionOf = (body: Record<string, unknown> | undefined): string => (body!.version as { envoy: { version: string } }).envoy.version;

/**
 * `run` remembers what an Envoy binary printed for `--version` (src/envoy/version-memo.ts) and,
 * for the same unchanged binary, sends the bootstrap request with it while `--version` runs again.
 */
describe("kuma-dp run: the bootstrap request with the version Envoy printed the last time", function () {
  let fx: RunFixture;
  beforeEach(async () => {
    // Each bootstrap says which version it was asked for: the one Envoy got is then known.
    fx = await runFixture({ cp: { bootstrapForRequest: (rec) => `${defaultBootstrapYaml(rec.body)}\n# for Envoy ${envoyVersionOf(rec.body)}\n` } });
  });
  afterEach(async () => {
    await fx.close();
  });
  after(cleanupTempDirs);

  const versionAnswers = () => eventsOf(fx.record(), 'early-exit').filter((e) => e.argv.includes('--version'));

  /** One run until its Envoy is live, then SIGTERM; returns its stderr. */
  async function runUntilLive(env: NodeJS.ProcessEnv, live: number): Promise<string> {
    const dp = fx.start([], { env });
    await fx.waitLive(dp, live);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
    return dp.stderr();
  }

  it('sends the request while --version still runs, and starts Envoy only after its answer', async () => {
    const slowVersion = { ENVOY_DOUBLE_VERSION_DELAY_MS: '1000' };
    await runUntilLive(slowVersion, 1);
    expect(fx.cp.requests[0]!.t, 'the first time, the request waits for the answer').to.be.at.least(versionAnswers()[0]!.t);

    await runUntilLive(slowVersion, 2);
    expect(fx.cp.requests, 'one request per run').to.have.length(2);
    const answer = versionAnswers()[1]!;
    expect(fx.cp.requests[1]!.t, 'the second time, the request is in before the answer').to.be.below(answer.t);
    expect(envoyVersionOf(fx.cp.requests[1]!.body)).to.equal('1.34.1');
    expect(eventsOf(fx.record(), 'start')[1]!.t, 'Envoy starts after the answer').to.be.at.least(answer.t);
  });

  it('asks again when --version prints another version than the last time, and Envoy gets that bootstrap', async () => {
    await runUntilLive({}, 1);
    const stderr = await runUntilLive({ ENVOY_DOUBLE_VERSION: '1.34.2', ENVOY_DOUBLE_VERSION_DELAY_MS: '500' }, 2);
    expect(fx.cp.requests.map((r) => envoyVersionOf(r.body))).to.deep.equal(['1.34.1', '1.34.1', '1.34.2']);
    expect(stderr).to.include('Envoy printed another version than the last time; fetching the bootstrap again');
    expect(readFileSync(join(fx.workDir, 'bootstrap.yaml'), 'utf8')).to.include('# for Envoy 1.34.2');
  });

  it('a --version that fails ends the run with exit 2 at once, although the request is still being retried', async () => {
    await runUntilLive({}, 1);
    fx.cp.setScript(Array.from({ length: 500 }, () => ({ status: 503 })));
    const result = await runKumaDp(fx.args(), {
      env: {
        ...fx.env,
        ENVOY_DOUBLE_VERSION: 'not-a-release',
        ENVOY_DOUBLE_VERSION_DELAY_MS: '500',
        KUMA_CONTROL_PLANE_RETRY_BACKOFF: '50ms',
        KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '5m',
      },
      timeoutMs: 10_000,
    });
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.include('printed no usable version');
    expect(fx.cp.requests.length, 'the recalled version was being sent meanwhile').to.be.at.least(2);
    expect(eventsOf(fx.record(), 'start'), 'no Envoy started').to.have.length(1);
  });
});
