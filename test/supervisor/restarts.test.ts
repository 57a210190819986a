import { expect } from 'chai';
import { eventsOf } from '../doubles/envoy-record.js';
import { parseDuration } from '../../src/config/duration.js';
import { cleanupTempDirs } from '../support/tmp.js';
import { getReady, type KumaDpProcess } from '../support/kuma-dp.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';
import { entries, jsonLog, killLeftovers, lastLine, start, type LogEntry } from './support.js';

const BACKOFF_MS = 200;

describe('Envoy restarts', function () {
  afterEach(killLeftovers);
  after(cleanupTempDirs);

  describe('on-failure with a double that always crashes (backoff 200ms, budget 3)', () => {
    let fx: RunFixture;
    let dp: KumaDpProcess;
    let exitCode: number | null;
    let restarts: LogEntry[];
    let starting: LogEntry[];
    const readiness: { sent: number; received: number; status: number }[] = [];

    before(async () => {
      fx = await runFixture({ envoyEnv: { ENVOY_DOUBLE_CRASH_AFTER_MS: '300' } });
      dp = start(fx, [
        '--log-format', 'json',
        '--envoy-restart', 'on-failure',
        '--envoy-restart-backoff', `${BACKOFF_MS}ms`,
        '--envoy-restart-max-backoff', '10s',
        '--envoy-max-restarts', '3',
      ]);
      let done = false;
      const poll = (async () => {
        while (!done) {
          const sent = Date.now();
          const answer = await getReady(fx.readinessPort).catch(() => undefined);
          if (answer) readiness.push({ sent, received: Date.now(), status: answer.status });
          await new Promise((resolve) => setTimeout(resolve, 15));
        }
      })();
      exitCode = (await dp.waitForExit(30_000)).code;
      done = true;
      await poll;
      restarts = entries(dp.stderr(), 'Envoy ended; restarting');
      starting = entries(dp.stderr(), 'starting Envoy');
    });
    after(() => fx.close());

    it('restarts three times, then exits with 128+SIGSEGV and one line saying so', () => {
      expect(eventsOf(fx.record(), 'start')).to.have.length(4);
      expect(restarts.map((e) => e.restart)).to.deep.equal([1, 2, 3]);
      expect(exitCode).to.equal(128 + 11);
      const last = JSON.parse(lastLine(dp.stderr())) as LogEntry;
      expect(last.level).to.equal('error');
      expect(last.message).to.match(/^Envoy killed by SIGSEGV and the restart budget \(3 restarts within 10m(0s)?\) is used up/);
    });

    it('each restart line says how Envoy ended, the delay, the count, and its last lines', () => {
      for (const entry of restarts) {
        expect(entry.level).to.equal('warn');
        expect(entry.how).to.equal('killed by SIGSEGV');
        expect(entry.delay).to.be.a('string');
        expect(entry.inWindow).to.match(/^\d\/3$/);
        expect((entry.lastLines as string[]).join('\n')).to.include('Caught Segmentation fault');
      }
    });

    it('the delays double from the first one, each within ±20%', () => {
      const delays = restarts.map((e) => parseDuration(e.delay as string));
      delays.forEach((delay, i) => {
        const base = BACKOFF_MS * 2 ** i;
        expect(delay, `delay ${i + 1}`).to.be.within(base * 0.8, base * 1.2);
      });
      // The time kuma-dp really waited: from its restart line to its next launch.
      restarts.forEach((entry, i) => {
        const waited = Date.parse(starting[i + 1]!.time) - Date.parse(entry.time);
        expect(waited, `wait ${i + 1}`).to.be.within(delays[i]! - 2, delays[i]! + 600);
      });
      // And as the double saw it: from one Envoy's end to the next one's start.
      const record = fx.record();
      const exits = eventsOf(record, 'exit');
      const starts = eventsOf(record, 'start');
      for (let i = 0; i < 3; i++) {
        const gap = starts[i + 1]!.t - exits[i]!.t;
        expect(gap, `exit ${i + 1} -> start ${i + 2}`).to.be.at.least(delays[i]!);
        expect(gap).to.be.below(delays[i]! + 5000);
      }
    });

    it('readiness answers 503 while Envoy is down between restarts', () => {
      let inside = 0;
      restarts.forEach((entry, i) => {
        const from = Date.parse(entry.time);
        const to = Date.parse(starting[i + 1]!.time);
        for (const sample of readiness.filter((s) => s.sent > from && s.received < to)) {
          inside += 1;
          expect(sample.status, `readiness during backoff ${i + 1}`).to.equal(503);
        }
      });
      expect(inside, 'readiness was sampled during the backoffs').to.be.greaterThan(0);
      expect(readiness.some((s) => s.status === 200), 'and 200 while a run was live').to.equal(true);
    });
  });

  describe('what each policy restarts', () => {
    const rows: { policy: string; starts: number }[] = [
      { policy: 'on-failure', starts: 1 },
      { policy: 'always', starts: 2 },
    ];
    for (const { policy, starts } of rows) {
      it(`${policy}: Envoy exiting 0 by itself is ${starts === 1 ? 'not restarted (exit 0)' : 'restarted'}`, async () => {
        const fx = await runFixture({ envoyEnv: { ENVOY_DOUBLE_EXIT_AFTER_MS_1: '300', ENVOY_DOUBLE_EXIT_CODE_1: '0' } });
        try {
          const dp = start(fx, ['--log-format', 'json', '--envoy-restart', policy, '--envoy-restart-backoff', '100ms']);
          if (starts === 1) {
            expect((await dp.waitForExit()).code).to.equal(0);
          } else {
            await fx.waitLive(dp, 2);
            const [restart] = entries(dp.stderr(), 'Envoy ended; restarting');
            expect(restart).to.include({ how: 'exited with code 0', restart: 1 });
            expect(restart!.lastLines, 'no crash report for a clean exit').to.equal(undefined);
            dp.signal('SIGTERM');
            expect((await dp.waitForExit()).code).to.equal(0);
          }
          expect(eventsOf(fx.record(), 'start')).to.have.length(starts);
        } finally {
          await fx.close();
        }
      });
    }
  });

  describe('auto', () => {
    const rows: { where: string; env: NodeJS.ProcessEnv; policy: string; because: RegExp }[] = [
      { where: 'a bare host', env: {}, policy: 'on-failure', because: /no outer supervisor/ },
      { where: 'Kubernetes', env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, policy: 'never', because: /KUBERNETES_SERVICE_HOST/ },
      { where: 'systemd (INVOCATION_ID)', env: { INVOCATION_ID: '0123abcd' }, policy: 'never', because: /INVOCATION_ID/ },
      { where: 'systemd (NOTIFY_SOCKET)', env: { NOTIFY_SOCKET: '/nonexistent/notify.sock' }, policy: 'never', because: /NOTIFY_SOCKET/ },
    ];
    let fx: RunFixture;
    before(async () => {
      fx = await runFixture();
    });
    after(() => fx.close());

    for (const { where, env, policy, because } of rows) {
      it(`logs ${policy} and why on ${where}`, async () => {
        const dp = start(fx, ['--log-format', 'json', '--envoy-restart', 'auto'], { env });
        await dp.waitForStderr(/Envoy restart policy/);
        dp.signal('SIGTERM');
        await dp.waitForExit();
        const [choice] = entries(dp.stderr(), 'Envoy restart policy');
        expect(choice!.policy).to.equal(policy);
        expect(choice!.reason).to.match(because);
      });
    }
  });

  describe('an Envoy that exits 1 before it is live (a configuration error)', () => {
    const REASON = 'Unable to parse JSON as proto (INVALID_ARGUMENT:static_resources.listeners[0]: unknown field "adress")';
    const rows: { policy: string; starts: number }[] = [
      { policy: 'never', starts: 1 },
      { policy: 'on-failure', starts: 2 },
      { policy: 'always', starts: 2 },
    ];
    for (const { policy, starts } of rows) {
      it(`${policy}: ${starts} start${starts > 1 ? 's' : ''}, then exit 1 with Envoy's reason as the last line`, async () => {
        const fx = await runFixture({ envoyEnv: { ENVOY_DOUBLE_CONFIG_ERROR: REASON } });
        try {
          const dp = start(fx, ['--envoy-restart', policy, '--envoy-restart-backoff', '100ms', '--envoy-max-restarts', '10']);
          expect((await dp.waitForExit()).code).to.equal(1);
          expect(eventsOf(fx.record(), 'start')).to.have.length(starts);
          const last = lastLine(dp.stderr());
          expect(last).to.match(/^Error: Envoy exited with code 1 before it became live: /);
          expect(last).to.include(REASON);
        } finally {
          await fx.close();
        }
      });
    }

    it('one retry is enough when the second start is fine', async () => {
      const fx = await runFixture({ envoyEnv: { ENVOY_DOUBLE_CONFIG_ERROR_1: 'transient' } });
      try {
        const dp = start(fx, ['--log-format', 'json', '--envoy-restart', 'on-failure', '--envoy-restart-backoff', '100ms']);
        await fx.waitLive(dp);
        dp.signal('SIGTERM');
        expect((await dp.waitForExit()).code).to.equal(0);
        expect(eventsOf(fx.record(), 'start')).to.have.length(2);
        expect(jsonLog(dp.stderr()).every((e) => e.level !== 'error')).to.equal(true);
      } finally {
        await fx.close();
      }
    });
  });
});
