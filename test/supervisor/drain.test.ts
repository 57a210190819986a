import { expect } from 'chai';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { eventsOf } from '../doubles/envoy-record.js';
import { waitFor } from '../support/wait.js';
import { cleanupTempDirs } from '../support/tmp.js';
import { getReady } from '../support/kuma-dp.js';
import { runFixture } from '../support/run-fixture.js';
import { Logger } from '../../src/logging/logger.js';
import { drainEnvoy, type DrainAdmin } from '../../src/supervisor/drain.js';
import { adminCalls, entries, killLeftovers, signalsReceived, start } from './support.js';

describe('adaptive drain', function () {
  afterEach(killLeftovers);
  after(cleanupTempDirs);

  describe('the drain query follows the Envoy version', () => {
    const rows = [
      { version: '1.26.0', drain: undefined },
      { version: '1.27.0', drain: 'POST /drain_listeners?inboundonly&graceful&skip_exit' },
    ];
    for (const { version, drain } of rows) {
      it(`Envoy ${version}: ${drain ? 'skip_exit query' : 'only /healthcheck/fail (no drain_listeners, SIGUSR2 refused)'}`, async () => {
        const fx = await runFixture({ envoyVersion: version });
        try {
          const dp = start(fx, ['--log-format', 'json']);
          await fx.waitLive(dp);
          if (!drain) {
            dp.signal('SIGUSR2');
            await dp.waitForStderr(/SIGUSR2 ignored/);
          }
          dp.signal('SIGTERM');
          expect((await dp.waitForExit()).code).to.equal(0);
          const calls = adminCalls(fx.record()).filter((call) => call.startsWith('POST'));
          expect(calls).to.deep.equal(drain ? ['POST /healthcheck/fail', drain] : ['POST /healthcheck/fail']);
        } finally {
          await fx.close();
        }
      });
    }
  });

  it('an admin API that fails during the drain does not cut the grace short', async () => {
    const fx = await runFixture();
    try {
      const dp = start(fx, ['--log-format', 'json', '--log-level', 'debug', '--drain-time', '1500ms', '--min-drain-time', '0s']);
      await fx.waitLive(dp);
      // The admin socket disappears: every admin call now fails, though nothing is connected.
      unlinkSync(join(fx.workDir, 'kuma-envoy-admin.sock'));
      const at = Date.now();
      dp.signal('SIGTERM');
      expect((await dp.waitForExit()).code).to.equal(0);
      const sigterm = eventsOf(fx.record(), 'signal').find((e) => e.signal === 'SIGTERM')!;
      expect(sigterm.t - at, 'the whole drain time was waited').to.be.within(1400, 3500);
      expect(entries(dp.stderr(), /could not fail Envoy health checks; waiting out the drain time/)).to.have.length(1);
      expect(entries(dp.stderr(), 'could not read active connections').length).to.be.greaterThan(0);
      expect(entries(dp.stderr(), 'drain finished')[0]!.outcome).to.equal('drain-time');
    } finally {
      await fx.close();
    }
  });

  it('SIGUSR1 is forwarded to Envoy; SIGHUP is logged and ignored', async () => {
    const fx = await runFixture();
    try {
      const dp = start(fx, ['--log-format', 'json']);
      await fx.waitLive(dp);
      dp.signal('SIGHUP');
      await dp.waitForStderr(/ignoring SIGHUP/);
      dp.signal('SIGUSR1');
      await waitFor(() => signalsReceived(fx.record()).includes('SIGUSR1'), { timeoutMs: 10_000, what: 'SIGUSR1 at Envoy' });
      expect((await getReady(fx.readinessPort)).status, 'still serving after SIGHUP').to.equal(200);
      expect(dp.child.exitCode).to.equal(null);
      dp.signal('SIGTERM');
      expect((await dp.waitForExit()).code).to.equal(0);
      expect(signalsReceived(fx.record())).to.deep.equal(['SIGUSR1', 'SIGTERM']);
      expect(eventsOf(fx.record(), 'start')).to.have.length(1);
    } finally {
      await fx.close();
    }
  });

  describe('drainEnvoy against a failing admin (real timers)', () => {
    const never = new Promise<never>(() => {});
    function admin(overrides: Partial<DrainAdmin>): DrainAdmin {
      return {
        healthcheckFail: async () => {},
        drainListeners: async () => {},
        activeDownstreamConnections: async () => 0,
        ...overrides,
      };
    }
    const base = { drainQuery: 'inboundonly&graceful&skip_exit', pollIntervalMs: 20, cutShort: new AbortController().signal, envoyEnded: never, logger: Logger.silent() };

    it('waits the drain time out when every connection count fails', async () => {
      const started = Date.now();
      const outcome = await drainEnvoy({
        ...base,
        admin: admin({ activeDownstreamConnections: () => Promise.reject(new Error('ECONNREFUSED')) }),
        minDrainMs: 0,
        maxDrainMs: 300,
      });
      expect(outcome).to.equal('drain-time');
      expect(Date.now() - started).to.be.at.least(295);
    });

    it('waits when the drain calls fail, then stops at the first count of zero', async () => {
      let polls = 0;
      const started = Date.now();
      const outcome = await drainEnvoy({
        ...base,
        admin: admin({
          healthcheckFail: () => Promise.reject(new Error('503')),
          drainListeners: () => Promise.reject(new Error('503')),
          activeDownstreamConnections: () => (++polls < 3 ? Promise.reject(new Error('timeout')) : Promise.resolve(0)),
        }),
        minDrainMs: 100,
        maxDrainMs: 5000,
      });
      expect(outcome).to.equal('connections-zero');
      expect(polls).to.equal(3);
      expect(Date.now() - started).to.be.within(95, 2000);
    });
  });
});
