/**
 * `npm run bench` (or `node dist/bench/run.js [name...] [--runs N]`): runs the benchmarks of
 * issue #6 against the doubles and prints one line per figure, then a summary table. Exits 0 even
 * when a target is missed: benchmarks inform, they do not gate.
 */
import { cpus, loadavg, release, totalmem } from 'node:os';
import { cleanupTempDirs } from '../test/support/tmp.js';
import { densityBench } from './density.js';
import { drainBench } from './drain.js';
import { installBench } from './install.js';
import { memoryBench } from './memory.js';
import { relayBench } from './relay.js';
import { restartBench } from './restart.js';
import { startBench } from './start.js';
import { figureLine, fmt, measured, summarize, targetText, verdict, type Figure } from './stats.js';
import { killLeftovers, type Benchmark } from './support.js';

const BENCHMARKS: Benchmark[] = [startBench, relayBench, memoryBench, restartBench, drainBench, installBench, densityBench];

const USAGE = `usage: node dist/bench/run.js [name...] [--runs N] [--list]
  name     run only these benchmarks (${BENCHMARKS.map((b) => b.name).join(', ')}); default all
  --runs   measured runs per figure (default 5, at least 1)
  --list   print the benchmark names and exit`;

interface Options {
  names: string[];
  runs: number;
  list: boolean;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { names: [], runs: 5, list: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--runs' || arg.startsWith('--runs=')) {
      const value = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      const runs = Number(value);
      if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs wants a whole number of at least 1, got ${value}`);
      options.runs = runs;
    } else if (arg === '--list') {
      options.list = true;
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (arg.startsWith('-')) {
      throw new Error(`unknown option ${arg}`);
    } else {
      if (!BENCHMARKS.some((b) => b.name === arg)) throw new Error(`no benchmark named ${arg}`);
      options.names.push(arg);
    }
  }
  return options;
}

function machine(): string {
  const cpu = cpus();
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return `${cpu.length} x ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}, node ${process.version}, load ${load}`;
}

interface Row {
  bench: string;
  figure: Figure | undefined;
  error?: string;
}

function summaryTable(rows: Row[]): string {
  const lines = rows.map((row) => {
    if (!row.figure) return [row.bench, '-', 'ERROR', row.error ?? '', 'ERROR'];
    const f = row.figure;
    const value = measured(f);
    const shown =
      f.target.kind === 'ratio-max' || f.target.kind === 'throughput-min'
        ? `${value?.toFixed(2)}x`
        : value !== undefined
          ? `${fmt(value)} ${f.unit}`
          : f.target.kind === 'check'
            ? '-'
            : `median ${fmt(summarize(f.samples).median)} ${f.unit}`;
    return [row.bench, f.name, shown, targetText(f), verdict(f)];
  });
  const header = ['bench', 'figure', 'value', 'target', 'verdict'];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmtRow = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [fmtRow(header), fmtRow(widths.map((w) => '-'.repeat(w))), ...lines.map(fmtRow)].join('\n');
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  if (options.list) {
    for (const b of BENCHMARKS) process.stdout.write(`${b.name.padEnd(8)} ${b.title}\n`);
    return;
  }
  const chosen = options.names.length ? BENCHMARKS.filter((b) => options.names.includes(b.name)) : BENCHMARKS;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`kuma-dp benchmarks, ${options.runs} runs per figure`);
  out(`machine: ${machine()}`);
  const rows: Row[] = [];
  const started = Date.now();
  for (const bench of chosen) {
    out(`\n== ${bench.name}: ${bench.title}`);
    const t0 = Date.now();
    try {
      const figures = await bench.run({ runs: options.runs, log: (line) => out(`   ${line}`) });
      for (const figure of figures) {
        out(figureLine(figure));
        rows.push({ bench: bench.name, figure });
      }
    } catch (err) {
      const message = (err as Error).stack ?? String(err);
      out(`ERROR: ${message}`);
      rows.push({ bench: bench.name, figure: undefined, error: (err as Error).message.split('\n')[0] });
    } finally {
      killLeftovers();
      cleanupTempDirs();
    }
    out(`   (${bench.name} took ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  out(`\n== summary (${((Date.now() - started) / 1000).toFixed(0)} s; load now ${loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  out(summaryTable(rows));
  const missed = rows.filter((r) => !r.figure || verdict(r.figure) === 'MISS');
  out(missed.length ? `\n${missed.length} MISS/ERROR: ${missed.map((r) => `${r.bench}/${r.figure?.name ?? 'error'}`).join(', ')}` : '\nall targets met');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    killLeftovers();
    process.exit(0);
  },
);
