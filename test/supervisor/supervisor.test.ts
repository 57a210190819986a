import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { Logger } from '../../src/logging/logger.js';
import { LogRelay } from '../../src/logging/relay.js';
import type { EnvoyProcess } from '../../src/envoy/launch.js';
import type { EnvoyEnd } from '../../src/supervisor/restart-policy.js';
import { Supervisor, type SupervisorOptions } from '../../src/supervisor/supervisor.js';
import { waitFor } from '../support/wait.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { entries } from './support.js';

/**
 * The state machine's edges with Envoy replaced at the process boundary (launch), where a real
 * process cannot be timed precisely enough: a signal in the middle of a launch, an OOM kill.
 */
class FakeEnvoy implements EnvoyProcess {
  static nextPid = 40_000;
  readonly pid = FakeEnvoy.nextPid++;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly signals: NodeJS.Signals[] = [];
  readonly ended: Promise<EnvoyEnd>;
  private resolveEnd!: (end: EnvoyEnd) => void;

  constructor() {
    this.ended = new Promise((resolve) => (this.resolveEnd = resolve));
  }

  exit(end: EnvoyEnd): void {
    this.stdout.end();
    this.stderr.end();
    this.resolveEnd(end);
  }

  signal(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    if (signal === 'SIGTERM') this.exit({ code: 0, signal: null });
    if (signal === 'SIGKILL') this.exit({ code: null, signal: 'SIGKILL' });
  }
}

describe('Supervisor state machine (Envoy faked at the launch boundary)', () => {
  let logPath: string;
  let envoys: FakeEnvoy[];
  after(cleanupTempDirs);
  beforeEach(() => {
    logPath = join(makeTempDir('kuma-dp-sup'), 'log.json');
    envoys = [];
  });

  function supervisor(overrides: Partial<SupervisorOptions> = {}): Supervisor {
    return new Supervisor({
      logger: Logger.create({ level: 'debug', format: 'json', outputPath: logPath }),
      launch: async () => {
        const envoy = new FakeEnvoy();
        envoys.push(envoy);
        return envoy;
      },
      output: new LogRelay({ out: new Writable({ write: (_chunk, _encoding, done) => done() }) }),
      // No admin: Envoy counts as live as soon as it runs, and a drain waits its whole (short) time.
      admin: undefined,
      drainQuery: undefined,
      restartPolicy: 'on-failure',
      backoff: { initialMs: 10, maxMs: 100, maxRestarts: 5, windowMs: 60_000, stableAfterMs: 60_000, jitter: 0.2 },
      minDrainMs: 0,
      maxDrainMs: 30,
      drainPollMs: 10,
      killGraceMs: 1000,
      notify: () => {},
      watchdogIntervalMs: undefined,
      ...overrides,
    });
  }

  const log = () => readFileSync(logPath, 'utf8');

  it('a shutdown signal before run() starts nothing', async () => {
    const sup = supervisor();
    sup.handleSignal('SIGTERM');
    expect(await sup.run()).to.deep.equal({ exitCode: 0 });
    expect(envoys).to.have.length(0);
  });

  it('a signal while the pid file is written still drains and stops the new Envoy', async () => {
    let release!: () => void;
    const pidWritten = new Promise<void>((resolve) => (release = resolve));
    const sup = supervisor({ onEnvoyPid: (pid) => (pid === undefined ? undefined : pidWritten) });
    const result = sup.run();
    await waitFor(() => envoys.length === 1, { timeoutMs: 2000, what: 'the launch' });
    sup.handleSignal('SIGTERM');
    release();
    expect(await result).to.deep.equal({ exitCode: 0 });
    expect(envoys[0]!.signals).to.deep.equal(['SIGTERM']);
    expect(entries(log(), 'drain finished')).to.have.length(1);
  });

  it('a signal during a restart launch leaves no Envoy behind', async () => {
    let finishLaunch!: (envoy: FakeEnvoy) => void;
    let launches = 0;
    const sup = supervisor({
      launch: () => {
        launches += 1;
        const envoy = new FakeEnvoy();
        envoys.push(envoy);
        if (launches === 1) return Promise.resolve(envoy);
        return new Promise((resolve) => (finishLaunch = () => resolve(envoy)));
      },
    });
    const result = sup.run();
    await waitFor(() => sup.state === 'live', { timeoutMs: 2000, what: 'live' });
    envoys[0]!.exit({ code: null, signal: 'SIGSEGV' });
    await waitFor(() => launches === 2, { timeoutMs: 2000, what: 'the restart launch' });
    sup.handleSignal('SIGTERM');
    finishLaunch(envoys[1]!);
    expect(await result).to.deep.equal({ exitCode: 0 });
    await waitFor(() => envoys[1]!.signals.length > 0, { timeoutMs: 2000, what: 'the late Envoy to be killed' });
    expect(envoys[1]!.signals).to.deep.equal(['SIGKILL']);
  });

  it('a shutdown signal while waiting to restart ends at once with 0, and nothing is restarted', async () => {
    const sup = supervisor({ backoff: { initialMs: 60_000, maxMs: 60_000, maxRestarts: 5, windowMs: 60_000, stableAfterMs: 60_000, jitter: 0.2 } });
    const result = sup.run();
    await waitFor(() => sup.state === 'live', { timeoutMs: 2000, what: 'live' });
    envoys[0]!.exit({ code: 3, signal: null });
    await waitFor(() => sup.state === 'backoff', { timeoutMs: 2000, what: 'backoff' });
    expect((await sup.readiness()).status, 'not ready while Envoy is down').to.equal(503);
    const at = Date.now();
    sup.handleSignal('SIGTERM');
    expect(await result).to.deep.equal({ exitCode: 0 });
    expect(Date.now() - at).to.be.below(1000);
    expect(envoys).to.have.length(1);
  });

  it('names an OOM kill from the cgroup counter in the restart line', async () => {
    let oomKills = 3;
    const sup = supervisor({ oomKillCount: () => oomKills });
    const result = sup.run();
    await waitFor(() => sup.state === 'live', { timeoutMs: 2000, what: 'live' });
    oomKills = 4;
    envoys[0]!.exit({ code: null, signal: 'SIGKILL' });
    await waitFor(() => envoys.length === 2 && sup.state === 'live', { timeoutMs: 2000, what: 'the restart' });
    sup.handleSignal('SIGTERM');
    expect(await result).to.deep.equal({ exitCode: 0 });
    const [restart] = entries(log(), 'Envoy ended; restarting');
    expect(restart).to.include({ how: 'killed by SIGKILL', restart: 1 });
    expect(restart!.hint).to.match(/OOM killer fired \(oom_kill 3 -> 4\)/);
  });

  it('a config error after a live run gets its one retry again ("twice in a row")', async () => {
    let ready = false;
    const sup = supervisor({
      admin: {
        ready: async () => (ready ? { status: 200, body: 'LIVE' } : { status: 503, body: 'PRE_INITIALIZING' }),
        healthcheckFail: async () => {},
        drainListeners: async () => {},
        activeDownstreamConnections: async () => 0,
      },
    });
    const result = sup.run();
    const configError = () => envoys.at(-1)!.exit({ code: 1, signal: null });
    // 1: config error (retried); 2: live, then a crash (restarted); 3: config error (retried again); 4: config error: fatal.
    await waitFor(() => envoys.length === 1, { timeoutMs: 2000, what: 'start 1' });
    configError();
    await waitFor(() => envoys.length === 2, { timeoutMs: 2000, what: 'start 2' });
    ready = true;
    await waitFor(() => sup.state === 'live', { timeoutMs: 2000, what: 'start 2 live' });
    ready = false;
    envoys[1]!.exit({ code: null, signal: 'SIGSEGV' });
    await waitFor(() => envoys.length === 3, { timeoutMs: 2000, what: 'start 3' });
    configError();
    await waitFor(() => envoys.length === 4, { timeoutMs: 2000, what: 'start 4' });
    configError();
    expect((await result).exitCode).to.equal(1);
    expect(envoys).to.have.length(4);
    expect(entries(log(), 'Envoy ended; restarting').map((e) => e.how)).to.deep.equal(['exited with code 1', 'killed by SIGSEGV', 'exited with code 1']);
  });
  it('a signal right after Envoy exited by itself is handled, not a crash (the pid file is still being removed)', async () => {
    let releaseRemoval!: () => void;
    const removal = new Promise<void>((resolve) => (releaseRemoval = resolve));
    const sup = supervisor({ restartPolicy: 'never', onEnvoyPid: (pid) => (pid === undefined ? removal : undefined) });
    const result = sup.run();
    await waitFor(() => envoys.length === 1, { timeoutMs: 2000, what: 'the launch' });
    envoys[0]!.exit({ code: 0, signal: null });
    await waitFor(() => sup.state === 'stopped', { timeoutMs: 2000, what: 'the end to be decided' });
    sup.handleSignal('SIGTERM');
    releaseRemoval();
    expect(await result).to.deep.equal({ exitCode: 0 });
  });

  it('a SIGUSR2 drain that failed does not let a later SIGTERM skip the drain', async () => {
    const calls: string[] = [];
    const admin = {
      ready: async () => ({ status: 200, body: 'LIVE' }),
      healthcheckFail: async () => void calls.push('healthcheck/fail'),
      drainListeners: async (query: string) => {
        calls.push(`drain_listeners?${query}`);
        throw new Error('admin unreachable');
      },
      activeDownstreamConnections: async () => 0,
    };
    const sup = supervisor({ admin, drainQuery: 'inboundonly&graceful&skip_exit' });
    const result = sup.run();
    await waitFor(() => sup.state === 'live', { timeoutMs: 2000, what: 'live' });
    sup.handleSignal('SIGUSR2');
    await waitFor(() => calls.length === 1, { timeoutMs: 2000, what: 'the SIGUSR2 drain attempt' });
    await waitFor(() => entries(log(), 'could not drain Envoy listeners; a later SIGTERM will drain as usual').length === 1, {
      timeoutMs: 2000,
      what: 'the failure to be logged',
    });
    sup.handleSignal('SIGTERM');
    expect(await result).to.deep.equal({ exitCode: 0 });
    expect(calls).to.include('healthcheck/fail');
    expect(entries(log(), 'drain finished')).to.have.length(1);
  });

  /** The longest stretch without WATCHDOG=1 while `sup` stays live for `forMs`. */
  async function longestWatchdogGapWhileLive(overrides: Partial<SupervisorOptions>, forMs: number): Promise<number> {
    const pings: number[] = [];
    const sup = supervisor({ ...overrides, notify: (fields) => void (fields.WATCHDOG && pings.push(Date.now())) });
    const result = sup.run();
    await waitFor(() => sup.state === 'live', { timeoutMs: 2000, what: 'live' });
    const from = Date.now();
    await waitFor(() => Date.now() - from >= forMs && sup.state === 'live', { timeoutMs: forMs + 2000, what: `${forMs} ms live` });
    sup.handleSignal('SIGTERM');
    expect((await result).exitCode).to.equal(0);
    const live = [from, ...pings.filter((t) => t >= from && t <= from + forMs), from + forMs];
    return Math.max(...live.slice(1).map((t, i) => t - live[i]!));
  }

  it('feeds the systemd watchdog while Envoy is live without an admin address to ask', async () => {
    expect(await longestWatchdogGapWhileLive({ watchdogIntervalMs: 300 }, 2000), 'longest gap (ms) against a 600 ms deadline').to.be.below(600);
  });

  it('feeds the systemd watchdog while Envoy is live and answers, however short the interval', async () => {
    const admin = {
      ready: async () => ({ status: 200, body: 'LIVE' }),
      healthcheckFail: async () => {},
      drainListeners: async () => {},
      activeDownstreamConnections: async () => 0,
    };
    // Before: answers only every second (the live poll), so pings stopped for up to a second.
    expect(await longestWatchdogGapWhileLive({ admin, watchdogIntervalMs: 300 }, 3000), 'longest gap (ms) against a 600 ms deadline').to.be.below(600);
  });

  it('60 s of continuous readiness resets the restart delay to the first one; a shorter stretch does not', async () => {
    let clock = 0;
    let polls = 0;
    const sup = supervisor({
      now: () => clock,
      admin: {
        ready: async () => {
          polls += 1;
          return { status: 200, body: 'LIVE' };
        },
        healthcheckFail: async () => {},
        drainListeners: async () => {},
        activeDownstreamConnections: async () => 0,
      },
      // Fast live polls (they follow the watchdog interval) so readiness is seen often.
      watchdogIntervalMs: 10,
      backoff: { initialMs: 10, maxMs: 1000, maxRestarts: 10, windowMs: 3_600_000, stableAfterMs: 60_000, jitter: 0 },
    });
    const result = sup.run();
    const liveRuns = async (n: number) => waitFor(() => envoys.length === n && sup.state === 'live', { timeoutMs: 2000, what: `start ${n} live` });
    // Two readiness answers at the current fake time: the stretch up to it has been observed.
    const polledAt = async (time: number) => {
      const marker = polls;
      await waitFor(() => polls >= marker + 2, { timeoutMs: 2000, what: `readiness polls at ${time} ms` });
    };
    await liveRuns(1);
    envoys[0]!.exit({ code: null, signal: 'SIGSEGV' });
    await liveRuns(2);
    envoys[1]!.exit({ code: null, signal: 'SIGSEGV' });
    await liveRuns(3);
    await polledAt(clock);
    clock += 30_000; // ready for 30 s only: not stable yet
    await polledAt(clock);
    envoys[2]!.exit({ code: null, signal: 'SIGSEGV' });
    await liveRuns(4);
    await polledAt(clock);
    clock += 61_000; // ready for over 60 s
    await polledAt(clock);
    envoys[3]!.exit({ code: null, signal: 'SIGSEGV' });
    await liveRuns(5);
    sup.handleSignal('SIGTERM');
    expect((await result).exitCode).to.equal(0);
    const delays = entries(log(), 'Envoy ended; restarting').map((e) => e.delay);
    expect(delays).to.deep.equal(['10ms', '20ms', '40ms', '10ms']);
  });

  it('feeds the systemd watchdog while it waits to restart Envoy', async () => {
    const sent: Record<string, string>[] = [];
    const sup = supervisor({
      backoff: { initialMs: 3000, maxMs: 3000, maxRestarts: 5, windowMs: 60_000, stableAfterMs: 60_000, jitter: 0 },
      notify: (fields) => void sent.push(fields),
      watchdogIntervalMs: 50,
    });
    const result = sup.run();
    await waitFor(() => envoys.length === 1, { timeoutMs: 2000, what: 'the launch' });
    envoys[0]!.exit({ code: 3, signal: null });
    await waitFor(() => sup.state === 'backoff', { timeoutMs: 2000, what: 'backoff' });
    const before = sent.filter((f) => f.WATCHDOG).length;
    await waitFor(() => sent.filter((f) => f.WATCHDOG).length >= before + 3, { timeoutMs: 2000, what: 'watchdog pings during the backoff' });
    expect(sup.state).to.equal('backoff');
    sup.handleSignal('SIGTERM');
    expect((await result).exitCode).to.equal(0);
  });
});
