import { join } from 'node:path';
import { Rig, now, spawnKumaDp, startMarks, stopKumaDp, timeCommand, untilDp, type Benchmark } from './support.js';
import type { Figure } from './stats.js';

/**
 * 1. Start to Envoy exec: from spawning `node bin/kuma-dp run` (remote bootstrap from the local
 * kuma-cp double) to the moment the Envoy wrapper is exec'd (its first line, before the double's
 * own node start-up). Floor: a bare `node -e 0` plus the double's `--version` (which kuma-dp must
 * run too), measured alternately with the real runs so that both see the same load.
 */
export const startBench: Benchmark = {
  name: 'start',
  title: 'Start to Envoy exec',
  async run(ctx) {
    const rig = await Rig.start('start');
    const measured: number[] = [];
    const floor: number[] = [];
    try {
      for (let i = -1; i < ctx.runs; i++) {
        const bare = await timeCommand(process.execPath, ['-e', '0']);
        const version = await timeCommand(rig.envoyPath, ['--version']);
        const toExec = await startToExec(rig);
        if (i < 0) continue; // warm-up: page cache, first compile of everything
        floor.push(bare + version);
        measured.push(toExec);
        ctx.log(`run ${i + 1}: start-to-exec ${toExec.toFixed(1)} ms, floor ${(bare + version).toFixed(1)} ms (node -e 0 ${bare.toFixed(1)} + envoy --version ${version.toFixed(1)})`);
      }
    } finally {
      await rig.close();
    }
    const figure: Figure = {
      name: 'start-to-exec',
      unit: 'ms',
      samples: measured,
      baseline: { name: 'floor', samples: floor },
      target: { kind: 'ratio-max', value: 1.5 },
      note: 'floor = node -e 0 + envoy --version',
    };
    return [figure];
  },
};

async function startToExec(rig: Rig): Promise<number> {
  const dir = rig.runDir('start');
  const markFile = join(dir, 'marks');
  const env = await rig.env({ BENCH_MARK_FILE: markFile });
  const started = now();
  const dp = spawnKumaDp(rig.args(join(dir, 'work')), env);
  const mark = await untilDp(dp, () => startMarks(markFile)[0], "Envoy exec'd by kuma-dp");
  await stopKumaDp(dp, 'start');
  return mark.t - started;
}
