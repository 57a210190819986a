import { expect } from 'chai';
import { join } from 'node:path';
import { eventsOf } from '../doubles/envoy-record.js';
import { waitFor } from '../support/wait.js';
import { cleanupTempDirs } from '../support/tmp.js';
import { processGone } from '../support/kuma-dp.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';
import { adminCalls, entries, killLeftovers, signalsReceived, start } from './support.js';

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('no orphan Envoy', function () {
  afterEach(killLeftovers);
  let fx: RunFixture;
  beforeEach(async () => {
    fx = await runFixture();
  });
  afterEach(async () => {
    // A failed test must not leave a double running.
    for (const start of eventsOf(fx.record(), 'start')) kill(start.pid);
    await fx.close();
  });
  after(cleanupTempDirs);

  it('SIGKILL of kuma-dp takes Envoy with it within 2 s (setpriv --pdeathsig)', async () => {
    const dp = start(fx);
    await fx.waitLive(dp);
    const envoyPid = eventsOf(fx.record(), 'start')[0]!.pid;
    expect(processGone(envoyPid)).to.equal(false);
    dp.signal('SIGKILL');
    await dp.waitForExit();
    const killedAt = Date.now();
    await waitFor(() => processGone(envoyPid), { timeoutMs: 2000, what: 'Envoy to die with kuma-dp' });
    expect(Date.now() - killedAt).to.be.below(2000);
    expect(dp.stderr()).not.to.include('will not die with kuma-dp');
  });

  it('Ctrl-C to the whole process group reaches only kuma-dp, which drains first', async () => {
    const dp = start(fx, [], { detached: true });
    await fx.waitLive(dp);
    process.kill(-dp.pid, 'SIGINT');
    expect((await dp.waitForExit()).code).to.equal(0);
    const record = fx.record();
    expect(signalsReceived(record), 'Envoy got our SIGTERM, never the terminal SIGINT').to.deep.equal(['SIGTERM']);
    const failAt = eventsOf(record, 'admin').find((e) => e.path === '/healthcheck/fail')!.t;
    const termAt = eventsOf(record, 'signal')[0]!.t;
    expect(failAt).to.be.at.most(termAt);
    expect(adminCalls(record)).to.include('POST /drain_listeners?inboundonly&graceful&skip_exit');
  });

  it('stops a stale Envoy left by a crashed kuma-dp with the same work dir before starting a new one', async () => {
    // Without setpriv on PATH the first Envoy survives its kuma-dp, like after a crash on a host without util-linux.
    const first = start(fx, ['--log-format', 'json'], { env: { PATH: join(fx.dir, 'no-such-dir') } });
    await fx.waitLive(first);
    const warnings = entries(first.stderr(), /will not die with kuma-dp/);
    expect(warnings, 'warned once').to.have.length(1);
    expect(warnings[0]!.reason).to.match(/setpriv/);
    first.signal('SIGKILL');
    await first.waitForExit();
    const stale = eventsOf(fx.record(), 'start')[0]!.pid;
    expect(processGone(stale), 'the first Envoy outlived its kuma-dp').to.equal(false);

    const second = start(fx, ['--log-format', 'json']);
    await fx.waitLive(second, 2);
    expect(processGone(stale)).to.equal(true);
    const [stopping] = entries(second.stderr(), /Envoy left running by an earlier kuma-dp/);
    expect(stopping!.pid).to.equal(stale);

    const record = fx.record();
    const staleExit = eventsOf(record, 'exit').find((e) => e.pid === stale)!;
    const newStart = eventsOf(record, 'start')[1]!;
    expect(eventsOf(record, 'signal').find((e) => e.pid === stale)!.signal).to.equal('SIGTERM');
    expect(staleExit.t, 'the stale Envoy was gone before the new one started').to.be.below(newStart.t);

    second.signal('SIGTERM');
    expect((await second.waitForExit()).code).to.equal(0);
  });
});
