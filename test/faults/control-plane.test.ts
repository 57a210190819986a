import { expect } from 'chai';
import { eventsOf } from '../doubles/envoy-record.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';
import { cleanupTempDirs } from '../support/tmp.js';

/**
 * The control plane misbehaving while `kuma-dp run` fetches its bootstrap, end to end: what the
 * run does and how it exits (the retry loop itself is covered in bootstrap/remote-client.test.ts).
 * The fixture retries every 50 ms for at most 2 s.
 */
describe('faults: the control plane while kuma-dp run starts', function () {
  this.timeout(30_000);
  let fx: RunFixture;
  afterEach(() => fx?.close());
  after(cleanupTempDirs);

  it('answers 503 twice, then a bootstrap: retried, Envoy starts, SIGTERM drains (exit 0)', async () => {
    fx = await runFixture({ cp: { script: [{ status: 503, body: 'overloaded' }, { status: 503, body: 'overloaded' }] } });
    const dp = fx.start();
    await fx.waitLive(dp);
    expect(fx.cp.requests.map((r) => r.outcome)).to.deep.equal([503, 503, 200]);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
  });

  it('answers 500 for the whole retry budget: exit 1 with one line naming the status, no Envoy', async () => {
    fx = await runFixture({ cp: { script: Array.from({ length: 500 }, () => ({ status: 500, body: 'boom' })) } });
    const dp = fx.start();
    const status = await dp.waitForExit(20_000);
    expect(status.code, dp.stderr()).to.equal(1);
    const errors = dp.stderr().split('\n').filter((l) => l.startsWith('Error: '));
    expect(errors, dp.stderr()).to.have.length(1);
    expect(errors[0]).to.match(/500/);
    expect(fx.cp.requests.length, 'retried within the budget').to.be.greaterThan(3);
    expect(eventsOf(fx.record(), 'start'), 'no Envoy').to.have.length(0);
  });

  it('answers slowly (1.5 s): kuma-dp waits for the answer, without a second request, and starts Envoy', async () => {
    fx = await runFixture({ cp: { script: [{ delayMs: 1500 }] } });
    const dp = fx.start();
    await fx.waitLive(dp);
    expect(fx.cp.requests, 'one request, answered late').to.have.length(1);
    expect(dp.stderr()).not.to.match(/retrying|attempt=2/);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
  });

  it('does not know the dataplane yet (404, empty body, as kuma-cp says it), then does: retried, Envoy starts', async () => {
    fx = await runFixture({ cp: { script: [{ status: 404 }, { status: 404 }] } });
    const dp = fx.start();
    await fx.waitLive(dp);
    expect(fx.cp.requests.map((r) => r.outcome)).to.deep.equal([404, 404, 200]);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
  });
});
