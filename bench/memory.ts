import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventsOf, readRecord } from '../test/doubles/envoy-record.js';
import type { Figure } from './stats.js';
import { Rig, bareNodeRss, rssMb, sleep, spawnKumaDp, stopKumaDp, untilDp, type Benchmark, type DpProcess } from './support.js';

const FLOOD_LINES = 100_000;
const QUICK_RESTARTS = 50;
const SETTLE_MS = 1000;
const RSS_LIMIT_MB = 60;
/** "Flat": what the flood and the restarts may add to the steady RSS (heap high-water marks, not a leak). */
const GROWTH_LIMIT_MB = 5;
/** 1 MB over 40 restarts: more would be a leak per restart. */
const PER_RESTART_LIMIT_KB = 25;
const GC_HOOK = fileURLToPath(new URL('./gc-hook.js', import.meta.url));
/** Restart counts at which the heap is measured after a full GC (the first ones warm the JIT up). */
const HEAP_CHECKPOINTS = [20, 35, 50, 65, 80];

/**
 * 3. Memory: VmRSS of the kuma-dp process (not its Envoy) in one run, at four points:
 *   steady     start 1 live, then 1 s of supervision
 *   flood      start 2 wrote 100,000 lines of 120 bytes through the relay, then 1 s
 *   10 / 50    after 10 and 50 quick restarts (starts 3..52 exit 0 about 100 ms after binding
 *              their admin API; restart policy always, backoff 10 ms, budget raised), then 1 s
 * Baseline: an idle bare `node` process (the runtime's own RSS).
 */
export const memoryBench: Benchmark = {
  name: 'memory',
  title: 'Memory of kuma-dp: steady, after 100,000 lines, after 50 restarts',
  async run(ctx) {
    const rig = await Rig.start('memory');
    const points = { steady: [] as number[], flood: [] as number[], r10: [] as number[], r50: [] as number[] };
    const bare: number[] = [];
    let heapSlopes: number[] = [];
    try {
      for (let i = 0; i < ctx.runs; i++) {
        const p = await memoryRun(rig);
        bare.push(await bareNodeRss());
        points.steady.push(p.steady);
        points.flood.push(p.flood);
        points.r10.push(p.r10);
        points.r50.push(p.r50);
        ctx.log(
          `run ${i + 1}: RSS steady ${p.steady.toFixed(1)} MB, after ${FLOOD_LINES} lines ${p.flood.toFixed(1)} MB, ` +
            `after 10 restarts ${p.r10.toFixed(1)} MB, after ${QUICK_RESTARTS} restarts ${p.r50.toFixed(1)} MB (bare node ${bare[i]!.toFixed(1)} MB)`,
        );
      }
      heapSlopes = await heapPerRestart(rig);
      ctx.log(`heap after a full GC, growth per restart between checkpoints (${HEAP_CHECKPOINTS.join(', ')} restarts): ${heapSlopes.map((k) => k.toFixed(2)).join(', ')} KB`);
    } finally {
      await rig.close();
    }
    const baseline = { name: 'bare node', samples: bare };
    const all = [...points.steady, ...points.flood, ...points.r10, ...points.r50];
    const growth = points.steady.map((v, i) => Math.max(points.flood[i]!, points.r10[i]!, points.r50[i]!) - v);
    const restartGrowth = points.r50.map((v, i) => v - points.r10[i]!);
    const figures: Figure[] = [
      { name: 'rss-steady', unit: 'MB', samples: points.steady, baseline, target: { kind: 'max', value: RSS_LIMIT_MB, of: 'max' } },
      { name: 'rss-after-100k-lines', unit: 'MB', samples: points.flood, baseline, target: { kind: 'max', value: RSS_LIMIT_MB, of: 'max' } },
      { name: 'rss-after-50-restarts', unit: 'MB', samples: points.r50, baseline, target: { kind: 'max', value: RSS_LIMIT_MB, of: 'max' } },
      {
        name: 'rss-growth',
        unit: 'MB',
        samples: growth,
        target: { kind: 'max', value: GROWTH_LIMIT_MB, of: 'max' },
        note: `highest later point minus steady, per run; peak of all points ${Math.max(...all).toFixed(1)} MB`,
      },
      {
        name: 'rss-growth-per-restart',
        unit: 'KB',
        samples: restartGrowth.map((mb) => (mb * 1024) / (QUICK_RESTARTS - 10)),
        target: { kind: 'max', value: PER_RESTART_LIMIT_KB, of: 'max' },
        note: 'RSS from restart 10 to 50, per restart (GC timing makes this noisy)',
      },
      {
        name: 'heap-growth-per-restart',
        unit: 'KB',
        samples: heapSlopes,
        target: { kind: 'info' },
        note:
          'V8 heap used after a forced full GC (bench/gc-hook.ts), per restart, between checkpoints 15 restarts apart after 20 of warm-up; ' +
          'about 2 KB is optimized code still being added (heap snapshots: code, deopt data, feedback), not retained objects',
      },
    ];
    return figures;
  },
};

/** POST /quitquitquit: the double exits 0, and kuma-dp (policy always) starts the next one. */
function quit(socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/quitquitquit', method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
}

async function memoryRun(rig: Rig): Promise<{ steady: number; flood: number; r10: number; r50: number }> {
  const dir = rig.runDir('memory');
  const record = join(dir, 'record');
  const lastQuick = 2 + QUICK_RESTARTS;
  const env = await rig.env({
    ENVOY_DOUBLE_RECORD: record,
    ENVOY_DOUBLE_STATE_DIR: join(dir, 'state'),
    ENVOY_DOUBLE_LIVE_DELAY_MS: '5',
    ENVOY_DOUBLE_EXIT_CODE: '0',
    // Starts 1 and 2 stay until the bench has read the RSS (then /quitquitquit), the quick ones
    // exit on their own, the last one stays.
    ENVOY_DOUBLE_EXIT_AFTER_MS: '100',
    ENVOY_DOUBLE_EXIT_AFTER_MS_1: '',
    ENVOY_DOUBLE_EXIT_AFTER_MS_2: '',
    ENVOY_DOUBLE_FLOOD_LINES_2: String(FLOOD_LINES),
    [`ENVOY_DOUBLE_EXIT_AFTER_MS_${lastQuick + 1}`]: '',
  });
  const dp = spawnKumaDp(
    rig.args(join(dir, 'work'), [
      '--envoy-restart', 'always',
      '--envoy-restart-backoff', '10ms',
      '--envoy-restart-max-backoff', '10ms',
      '--envoy-max-restarts', '1000',
    ]),
    env,
  );
  const starts = () => eventsOf(readRecord(record), 'start');
  const liveOf = (n: number) => {
    const start = starts().find((e) => e.startNumber === n);
    return start && eventsOf(readRecord(record), 'live').some((e) => e.pid === start.pid);
  };
  const settledRss = async () => {
    await sleep(SETTLE_MS);
    return rssMb(dp.pid);
  };
  const admin = join(dir, 'work', 'kuma-envoy-admin.sock');
  await untilDp(dp, () => liveOf(1), 'Envoy start 1 live');
  const steady = await settledRss();
  await quit(admin);
  await untilDp(dp, () => eventsOf(readRecord(record), 'flood').length > 0, `start 2 to write ${FLOOD_LINES} lines`, 60_000);
  const flood = await settledRss();
  await quit(admin);
  await untilDp(dp, () => liveOf(12), 'Envoy start 12 (restart 10 after the flood) live', 60_000);
  const r10 = await settledRss();
  await untilDp(dp, () => liveOf(lastQuick + 1), `Envoy start ${lastQuick + 1} live`, 120_000);
  const r50 = await settledRss();
  await stopKumaDp(dp, 'memory');
  return { steady, flood, r10, r50 };
}

/**
 * One kuma-dp restarting a quick Envoy (exits 30 ms after binding, backoff 1 ms) 80 times; at
 * each checkpoint the GC hook forces a full GC and reports the heap. Returns KB per restart for
 * each stretch between checkpoints.
 */
async function heapPerRestart(rig: Rig): Promise<number[]> {
  const dir = rig.runDir('heap');
  const record = join(dir, 'record');
  const report = join(dir, 'gc.jsonl');
  const env = await rig.env({
    ENVOY_DOUBLE_RECORD: record,
    ENVOY_DOUBLE_STATE_DIR: join(dir, 'state'),
    ENVOY_DOUBLE_LIVE_DELAY_MS: '5',
    ENVOY_DOUBLE_EXIT_CODE: '0',
    ENVOY_DOUBLE_EXIT_AFTER_MS: '30',
    [`ENVOY_DOUBLE_EXIT_AFTER_MS_${HEAP_CHECKPOINTS.at(-1)! + 2}`]: '',
    NODE_OPTIONS: `--expose-gc --import=${GC_HOOK}`,
    KUMA_DP_BENCH_GC_REPORT: report,
  });
  const dp = spawnKumaDp(
    rig.args(join(dir, 'work'), ['--envoy-restart', 'always', '--envoy-restart-backoff', '1ms', '--envoy-restart-max-backoff', '1ms', '--envoy-max-restarts', '1000']),
    env,
  );
  const points: { restarts: number; heap: number }[] = [];
  try {
    for (const checkpoint of HEAP_CHECKPOINTS) {
      await untilDp(dp, () => eventsOf(readRecord(record), 'start').length > checkpoint, `${checkpoint} restarts`, 120_000);
      const restarts = eventsOf(readRecord(record), 'start').length - 1;
      points.push({ restarts, heap: await forcedGcHeap(dp, report, points.length + 1) });
    }
  } finally {
    await stopKumaDp(dp, 'heap');
  }
  return points.slice(1).map((p, i) => (p.heap - points[i]!.heap) / 1024 / (p.restarts - points[i]!.restarts));
}

/** Signals the GC hook and returns heapUsed (bytes) from its `count`th report. */
async function forcedGcHeap(dp: DpProcess, report: string, count: number): Promise<number> {
  process.kill(dp.pid, 'SIGWINCH');
  const lines = await untilDp(
    dp,
    () => {
      try {
        const text = readFileSync(report, 'utf8').trim().split('\n');
        return text.length >= count ? text : undefined;
      } catch {
        return undefined;
      }
    },
    'the GC hook to report',
    10_000,
  );
  return (JSON.parse(lines[count - 1]!) as { heapUsed: number }).heapUsed;
}
