import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RestartBackoff, type BackoffSettings } from '../../src/supervisor/backoff.js';
import { chooseRestartPolicy, policyWantsRestart, type RestartPolicy } from '../../src/supervisor/restart-policy.js';
import { describeEnvoyEnd, exitCodeForEnvoyEnd } from '../../src/supervisor/exit-status.js';
import { oomCounterPaths, oomKillCount } from '../../src/platform/cgroup.js';
import { envoyLineSeverity, envoyLineTransform } from '../../src/logging/envoy-lines.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';

const SETTINGS: BackoffSettings = { initialMs: 1000, maxMs: 30_000, maxRestarts: 5, windowMs: 600_000, stableAfterMs: 60_000, jitter: 0.2 };

describe('RestartBackoff (injected time and randomness)', () => {
  it('doubles from the first delay up to the cap, ±20% at the extremes of random()', () => {
    const bases = [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000];
    for (const [random, factor] of [
      [0, 0.8],
      [0.5, 1],
      [0.999_999, 1.2],
    ] as const) {
      const backoff = new RestartBackoff({ ...SETTINGS, maxRestarts: 100 });
      const delays = bases.map((_, i) => backoff.next(i, () => random));
      expect(delays, `random() = ${random}`).to.deep.equal(bases.map((base) => Math.round(base * factor)));
    }
  });

  it('keeps every delay inside its jitter band for any random()', () => {
    const backoff = new RestartBackoff({ ...SETTINGS, maxRestarts: 1000 });
    let seed = 7;
    const random = () => ((seed = (seed * 16_807) % 2_147_483_647) - 1) / 2_147_483_646;
    for (let i = 0; i < 200; i++) {
      const base = Math.min(1000 * 2 ** i, 30_000);
      expect(backoff.next(i, random)).to.be.within(base * 0.8, base * 1.2);
    }
  });

  it('allows maxRestarts within the sliding window, and more once old ones leave it', () => {
    const backoff = new RestartBackoff({ ...SETTINGS, maxRestarts: 3, windowMs: 10_000 });
    for (const t of [0, 1000, 2000]) {
      expect(backoff.budgetLeft(t)).to.equal(true);
      backoff.next(t, () => 0.5);
    }
    expect(backoff.restartsInWindow(2500)).to.equal(3);
    expect(backoff.budgetLeft(2500)).to.equal(false);
    expect(backoff.budgetLeft(9999)).to.equal(false);
    // The restart at t=0 leaves the window at t=10000.
    expect(backoff.restartsInWindow(10_000)).to.equal(2);
    expect(backoff.budgetLeft(10_000)).to.equal(true);
  });

  it('a budget of 0 never allows a restart', () => {
    expect(new RestartBackoff({ ...SETTINGS, maxRestarts: 0 }).budgetLeft(0)).to.equal(false);
  });

  it('resets the delay to its first value only after a stable run', () => {
    const backoff = new RestartBackoff(SETTINGS);
    expect([backoff.next(0, () => 0.5), backoff.next(1, () => 0.5), backoff.next(2, () => 0.5)]).to.deep.equal([1000, 2000, 4000]);
    backoff.observeReady(59_999);
    expect(backoff.next(3, () => 0.5), 'not yet stable').to.equal(8000);
    backoff.observeReady(60_000);
    expect(backoff.next(4, () => 0.5), 'stable: back to the first delay').to.equal(1000);
    expect(backoff.next(5, () => 0.5)).to.equal(2000);
  });
});

describe('restart policy and exit status', () => {
  const rows: [string, NodeJS.ProcessEnv, RestartPolicy][] = [
    ['bare host', {}, 'on-failure'],
    ['Kubernetes', { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, 'never'],
    ['systemd (INVOCATION_ID)', { INVOCATION_ID: 'abc' }, 'never'],
    ['systemd (NOTIFY_SOCKET)', { NOTIFY_SOCKET: '/run/systemd/notify' }, 'never'],
  ];
  for (const [where, env, policy] of rows) {
    it(`auto picks ${policy} on a ${where}, with a reason`, () => {
      const choice = chooseRestartPolicy('auto', env);
      expect(choice.policy).to.equal(policy);
      expect(choice.reason).to.be.a('string').and.not.equal('');
      const key = Object.keys(env)[0];
      if (key) expect(choice.reason).to.include(key);
    });
  }

  it('an explicit policy wins over the environment', () => {
    expect(chooseRestartPolicy('always', { KUBERNETES_SERVICE_HOST: 'x' })).to.deep.equal({ policy: 'always', reason: 'set by --envoy-restart' });
  });

  it('which ends each policy restarts', () => {
    const ends = [
      { code: 0, signal: null },
      { code: 3, signal: null },
      { code: null, signal: 'SIGSEGV' as NodeJS.Signals },
    ];
    const table = (['never', 'on-failure', 'always'] as const).map((policy) => ends.map((end) => policyWantsRestart(policy, end)));
    expect(table).to.deep.equal([
      [false, false, false],
      [false, true, true],
      [true, true, true],
    ]);
  });

  it("maps Envoy's end to DESIGN §3 codes and words", () => {
    expect(exitCodeForEnvoyEnd({ code: 3, signal: null })).to.equal(3);
    expect(exitCodeForEnvoyEnd({ code: null, signal: 'SIGKILL' })).to.equal(137);
    expect(exitCodeForEnvoyEnd({ code: null, signal: 'SIGSEGV' })).to.equal(139);
    expect(describeEnvoyEnd({ code: 3, signal: null })).to.equal('exited with code 3');
    expect(describeEnvoyEnd({ code: null, signal: 'SIGABRT' })).to.equal('killed by SIGABRT');
  });
});

describe('cgroup OOM counter', () => {
  after(cleanupTempDirs);

  it('looks in the v2 unified cgroup, then the v1 memory cgroup, then the namespace root', () => {
    const cgroup = '12:memory:/kubepods/pod1\n3:cpu,cpuacct:/x\n0::/system.slice/kuma-dp.service\n';
    expect(oomCounterPaths(cgroup, '/cg')).to.deep.equal([
      '/cg/system.slice/kuma-dp.service/memory.events',
      '/cg/memory/kubepods/pod1/memory.oom_control',
      '/cg/memory.events',
      '/cg/memory/memory.oom_control',
    ]);
    expect(oomCounterPaths('', '/cg')).to.deep.equal(['/cg/memory.events', '/cg/memory/memory.oom_control']);
  });

  it('reads oom_kill from the first readable counter', () => {
    const root = makeTempDir('kuma-dp-cgroup');
    mkdirSync(join(root, 'memory', 'pod'), { recursive: true });
    writeFileSync(join(root, 'memory', 'pod', 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 4\n');
    const paths = oomCounterPaths('5:memory:/pod\n0::/\n', root);
    expect(oomKillCount(paths)).to.equal(4);
    writeFileSync(join(root, 'memory.events'), 'low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n');
    expect(oomKillCount(paths), 'v2 first').to.equal(1);
    expect(oomKillCount([join(root, 'missing')])).to.equal(undefined);
  });
});

describe('Envoy lines for log pipelines', () => {
  const line = '[2026-01-02 03:04:05.678][12][warning][main] [source/server/server.cc:968] caught and eating SIGHUP';

  it('tagged prefixes, json wraps with Envoy\'s level mapped onto ours', () => {
    expect(envoyLineTransform('raw')).to.equal(undefined);
    expect(String(envoyLineTransform('tagged')!(Buffer.from(line), 'stderr'))).to.equal(`envoy ${line}`);
    const wrapped = JSON.parse(String(envoyLineTransform('json')!(Buffer.from(line), 'stderr'))) as Record<string, string>;
    expect(wrapped).to.include({ level: 'warn', logger: 'envoy', source: 'stderr', message: line });
    expect(Date.parse(wrapped.time!)).to.be.closeTo(Date.now(), 5000);
  });

  it('maps every Envoy level, and guesses by stream for lines without one', () => {
    const levels = ['trace', 'debug', 'info', 'warning', 'error', 'critical'].map((level) =>
      envoyLineSeverity(`[t][1][${level}][main] [x.cc:1] m`, 'stdout'),
    );
    expect(levels).to.deep.equal(['debug', 'debug', 'info', 'warn', 'error', 'error']);
    expect(envoyLineSeverity('plain reason', 'stderr')).to.equal('warn');
    expect(envoyLineSeverity('plain line', 'stdout')).to.equal('info');
  });
});
