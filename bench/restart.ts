import { join } from 'node:path';
import { parseDuration } from '../src/config/duration.js';
import { eventsOf, readRecord } from '../test/doubles/envoy-record.js';
import type { Figure } from './stats.js';
import { Rig, spawnKumaDp, startMarks, stopKumaDp, untilDp, type Benchmark } from './support.js';

const CRASHES_PER_RUN = 5;
const BACKOFF = '100ms';

/**
 * 4. Restart overhead: Envoy crashes (SIGSEGV 150 ms after binding its admin API) and kuma-dp
 * restarts it (policy on-failure, backoff 100 ms, max backoff 100 ms, so every delay is 100 ms
 * ±20% jitter). Per restart: the next exec mark minus the crashed double's `exit` record, minus
 * the delay kuma-dp logged for that restart (`delay=`), i.e. what kuma-dp adds beyond the backoff:
 * noticing the exit (pipes closed, SIGCHLD), deciding, and spawning setpriv + Envoy.
 * Baseline: the logged delays themselves.
 */
export const restartBench: Benchmark = {
  name: 'restart',
  title: 'Restart overhead beyond the configured backoff',
  async run(ctx) {
    const rig = await Rig.start('restart');
    const overheads: number[] = [];
    const delays: number[] = [];
    try {
      for (let i = 0; i < ctx.runs; i++) {
        const run = await restartRun(rig);
        overheads.push(...run.overheads);
        delays.push(...run.delays);
        ctx.log(`run ${i + 1}: overhead ${run.overheads.map((o) => o.toFixed(1)).join(', ')} ms (delays ${run.delays.join(', ')} ms)`);
      }
    } finally {
      await rig.close();
    }
    const figure: Figure = {
      name: 'restart-overhead',
      unit: 'ms',
      samples: overheads,
      baseline: { name: 'logged delay', samples: delays },
      target: { kind: 'max', value: 20, of: 'median' },
      note: `${CRASHES_PER_RUN} crashes per run; exit record -> next exec mark - delay`,
    };
    return [figure];
  },
};

async function restartRun(rig: Rig): Promise<{ overheads: number[]; delays: number[] }> {
  const dir = rig.runDir('restart');
  const record = join(dir, 'record');
  const marks = join(dir, 'marks');
  const env = await rig.env({
    ENVOY_DOUBLE_RECORD: record,
    ENVOY_DOUBLE_STATE_DIR: join(dir, 'state'),
    BENCH_MARK_FILE: marks,
    ENVOY_DOUBLE_LIVE_DELAY_MS: '10',
    ENVOY_DOUBLE_CRASH_AFTER_MS: '150',
    [`ENVOY_DOUBLE_CRASH_AFTER_MS_${CRASHES_PER_RUN + 1}`]: '',
  });
  const dp = spawnKumaDp(
    rig.args(join(dir, 'work'), [
      '--envoy-restart', 'on-failure',
      '--envoy-restart-backoff', BACKOFF,
      '--envoy-restart-max-backoff', BACKOFF,
      '--envoy-max-restarts', '100',
    ]),
    env,
  );
  await untilDp(dp, () => startMarks(marks).length > CRASHES_PER_RUN, `${CRASHES_PER_RUN} restarts`, 60_000);
  await stopKumaDp(dp, 'restart');

  const logged = new Map<number, number>();
  for (const line of dp.stderr().split('\n')) {
    if (!line.includes('Envoy ended; restarting')) continue;
    const delay = /\bdelay=(\S+)/.exec(line);
    const restart = /\brestart=(\d+)/.exec(line);
    if (delay && restart) logged.set(Number(restart[1]), parseDuration(delay[1]!));
  }
  const events = readRecord(record);
  const exits = eventsOf(events, 'exit');
  const execs = startMarks(marks);
  const overheads: number[] = [];
  const delays: number[] = [];
  for (let n = 1; n <= CRASHES_PER_RUN; n++) {
    const crashed = execs[n - 1]!;
    const exit = exits.find((e) => e.pid === crashed.pid);
    const delay = logged.get(n);
    if (!exit || delay === undefined) throw new Error(`restart ${n}: no exit record or no logged delay; kuma-dp stderr:\n${dp.stderr()}`);
    overheads.push(execs[n]!.t - exit.t - delay);
    delays.push(delay);
  }
  return { overheads, delays };
}
