import { join } from 'node:path';
import { eventsOf, readRecord } from '../test/doubles/envoy-record.js';
import type { Figure } from './stats.js';
import { Rig, spawnKumaDp, expectExit, untilDp, type Benchmark } from './support.js';

const TOLERANCE_MS = 250;

interface Scenario {
  name: string;
  what: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** When Envoy should get SIGTERM, given the bench's SIGTERM to kuma-dp and the record. */
  expected(signalledAt: number, record: ReturnType<typeof readRecord>): number;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'drain-busy',
    what: 'connections never reach 0: SIGTERM at --drain-time (1s)',
    args: ['--drain-time', '1s', '--min-drain-time', '200ms'],
    env: { ENVOY_DOUBLE_CONNECTIONS: 'inbound_busy=3' },
    expected: (t) => t + 1000,
  },
  {
    name: 'drain-idle',
    what: 'no connections: SIGTERM at --min-drain-time (500ms)',
    args: ['--drain-time', '3s', '--min-drain-time', '500ms'],
    env: {},
    expected: (t) => t + 500,
  },
  {
    name: 'drain-to-zero',
    what: 'connections reach 0 at T (600 ms after the drain starts): SIGTERM right after T',
    args: ['--drain-time', '3s', '--min-drain-time', '200ms'],
    env: { ENVOY_DOUBLE_CONNECTIONS: 'inbound_busy=3', ENVOY_DOUBLE_CONNECTIONS_DRAIN_AFTER_MS: '600' },
    expected: (_t, record) => {
      const zero = eventsOf(record, 'connections').find((e) => e.value === 0);
      if (!zero) throw new Error('the double never dropped its connections to 0');
      return zero.t;
    },
  },
];

/**
 * 5. Drain accuracy: kuma-dp gets SIGTERM once Envoy is live; the error is the moment Envoy
 * records SIGTERM minus the moment it should have come (the target: --drain-time or
 * --min-drain-time after the bench's SIGTERM to kuma-dp, or the moment the double's connection
 * gauges dropped to 0). Positive = late, negative = early. Each scenario's baseline is its target
 * delay. Times are epoch ms from the same clock (bench and double).
 */
export const drainBench: Benchmark = {
  name: 'drain',
  title: 'Drain accuracy: Envoy SIGTERM against the configured drain',
  async run(ctx) {
    const rig = await Rig.start('drain');
    const errors = new Map<string, number[]>(SCENARIOS.map((s) => [s.name, []]));
    const waits = new Map<string, number[]>(SCENARIOS.map((s) => [s.name, []]));
    try {
      for (let i = 0; i < ctx.runs; i++) {
        // The three scenarios run side by side: they mostly wait, and it saves two thirds of the time.
        const results = await Promise.all(SCENARIOS.map((s) => drainRun(rig, s)));
        SCENARIOS.forEach((s, k) => {
          errors.get(s.name)!.push(results[k]!.error);
          waits.get(s.name)!.push(results[k]!.expectedAfter);
        });
        ctx.log(`run ${i + 1}: ${SCENARIOS.map((s, k) => `${s.name} ${results[k]!.error >= 0 ? '+' : ''}${results[k]!.error.toFixed(0)} ms`).join(', ')}`);
      }
    } finally {
      await rig.close();
    }
    return SCENARIOS.map(
      (s): Figure => ({
        name: `${s.name}-error`,
        unit: 'ms',
        samples: errors.get(s.name)!,
        baseline: { name: 'target wait', samples: waits.get(s.name)! },
        target: { kind: 'max', value: TOLERANCE_MS, of: 'max-abs' },
        note: s.what,
      }),
    );
  },
};

async function drainRun(rig: Rig, scenario: Scenario): Promise<{ error: number; expectedAfter: number }> {
  const dir = rig.runDir(scenario.name);
  const record = join(dir, 'record');
  const env = await rig.env({ ENVOY_DOUBLE_RECORD: record, ENVOY_DOUBLE_LIVE_DELAY_MS: '10', ...scenario.env });
  const dp = spawnKumaDp(rig.args(join(dir, 'work'), scenario.args), env);
  await untilDp(dp, () => /Envoy is live/.test(dp.stderr()), `${scenario.name}: kuma-dp to see Envoy live`);
  const signalledAt = Date.now();
  dp.child.kill('SIGTERM');
  const status = await expectExit(dp, 20_000, scenario.name);
  if (status.code !== 0) throw new Error(`${scenario.name}: kuma-dp exited with ${status.code ?? status.signal}; stderr:\n${dp.stderr()}`);
  const events = readRecord(record);
  const term = eventsOf(events, 'signal').find((e) => e.signal === 'SIGTERM');
  if (!term) throw new Error(`${scenario.name}: Envoy never got SIGTERM; stderr:\n${dp.stderr()}`);
  const expected = scenario.expected(signalledAt, events);
  return { error: term.t - expected, expectedAfter: expected - signalledAt };
}
