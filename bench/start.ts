import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../src/package-root.js';
import { cliCodeCacheFile } from '../src/cli/launcher.js';
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
    const phases: Record<string, number>[] = [];
    try {
      for (let i = -1; i < ctx.runs; i++) {
        const bare = await timeCommand(process.execPath, ['-e', '0']);
        const version = await timeCommand(rig.envoyPath, ['--version']);
        // Warm-up: page cache, and the code cache a run writes once Envoy has started (src/cli/launcher.ts), as
        // any run after the first on a host has it.
        const { toExec, phases: split } = await startToExec(rig, i < 0);
        if (i < 0) continue;
        floor.push(bare + version);
        measured.push(toExec);
        phases.push(split);
        ctx.log(`run ${i + 1}: start-to-exec ${toExec.toFixed(1)} ms, floor ${(bare + version).toFixed(1)} ms (node -e 0 ${bare.toFixed(1)} + envoy --version ${version.toFixed(1)})`);
      }
      ctx.log(`phases, median over the runs (from kuma-dp's log timestamps): ${[...PHASES.map(([, label]) => label), 'launch to exec'].map((label) => `${label} ${median(phases.map((p) => p[label] ?? NaN)).toFixed(0)} ms`).join(' | ')} ${VERSION_LABEL} ${median(phases.map((p) => p[VERSION_LABEL] ?? NaN)).toFixed(0)} ms)`);
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

/** Log messages that end a phase of the start, with the phase's name. */
const PHASES: [RegExp, string][] = [
  [/^starting Data Plane/, 'node + modules'],
  [/^fetching bootstrap configuration/, 'prepare (template, token, work dir; --version unless recalled)'],
  [/^received bootstrap configuration/, 'bootstrap (HTTP, YAML, schema)'],
  [/^starting Envoy/, 'to launch (file, setup)'],
];
/** Not a phase: with a recalled version (src/cli/early-start.ts, src/platform/binary-memo.ts) `--version` answers during the bootstrap. */
const VERSION_ANSWERED = /^(fetched Envoy version|Envoy version incompatible)/;
const VERSION_LABEL = '(envoy --version answered at';

/** Milliseconds per phase: each marker's log time minus the previous one (spawn first, exec last). */
function phaseSplit(stderr: string, started: number, exec: number): Record<string, number> {
  const split: Record<string, number> = {};
  const logged = stderr.split('\n').map((line) => line.split('\t')).filter((fields) => fields[3] !== undefined);
  const timeOf = (pattern: RegExp) => {
    const line = logged.find((fields) => pattern.test(fields[3]!));
    return line ? Date.parse(line[0]!) : undefined;
  };
  let previous = started;
  for (const [pattern, label] of PHASES) {
    const t = timeOf(pattern);
    if (t === undefined) continue;
    split[label] = t - previous;
    previous = t;
  }
  split['launch to exec'] = exec - previous;
  const answered = timeOf(VERSION_ANSWERED);
  if (answered !== undefined) split[VERSION_LABEL] = answered - started;
  return split;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const MARK_POLL_MS = 25;

const RUN_CODE_CACHE = cliCodeCacheFile(join(PACKAGE_ROOT, 'dist', 'bundle'), 'run');

async function startToExec(rig: Rig, warmUp: boolean): Promise<{ toExec: number; phases: Record<string, number> }> {
  const dir = rig.runDir('start');
  const markFile = join(dir, 'marks');
  const env = await rig.env({ BENCH_MARK_FILE: markFile });
  const started = now();
  const dp = spawnKumaDp(rig.args(join(dir, 'work')), env);
  // The mark carries its own time, so polling only has to notice it; polling every 2 ms (the
  // default) took CPU from the two cores the start being measured runs on.
  const mark = await untilDp(dp, () => startMarks(markFile)[0], "Envoy exec'd by kuma-dp", 20_000, MARK_POLL_MS);
  if (warmUp && RUN_CODE_CACHE) await untilDp(dp, () => existsSync(RUN_CODE_CACHE), `the code cache ${RUN_CODE_CACHE}`, 10_000);
  await stopKumaDp(dp, 'start');
  return { toExec: mark.t - started, phases: phaseSplit(dp.stderr(), started, mark.t) };
}
