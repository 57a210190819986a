import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { defaultBootstrapYaml } from '../test/doubles/kuma-cp-double.js';
import { baseEnv } from '../test/support/kuma-dp.js';
import { percentile, type Figure } from './stats.js';
import { Rig, now, sleep, spawnKumaDp, stopKumaDp, track, until, type Benchmark } from './support.js';

const LINES = 300_000;
const LINE_BYTES = 120;
const FLOOD_BYTES = LINES * LINE_BYTES;
const LAST_LINE_HEAD = Buffer.from(`flood ${String(LINES).padStart(9, '0')} `);
const MARKER_EVERY_MS = 10;
/** The double logs this at [error] for a GET of a POST-only admin path: our timestamped marker line. */
const MARKER_TEXT = Buffer.from('"/logging" mutates state, method=GET');
const LOOP_START_TEXT = 'starting main dispatch loop';

/**
 * 2. Log relay: 300,000 lines of 120 bytes from the Envoy double's stderr through kuma-dp into a
 * file (kuma-dp's stdout is the file), against the double writing into the file directly. Both
 * are timed from the double's `starting main dispatch loop` line (its timestamp; the flood starts
 * right after it) to the moment the last flood line is in the file (polled every ~1 ms). Then the
 * file is checked: every flood line present once, in order, whole, and nothing else mangled.
 *
 * Latency: during the same flood, the bench GETs the double's admin /logging every 10 ms; the
 * double answers by logging a timestamped [error] line into the flood. kuma-dp's stdout is a
 * pipe read by the bench, which notes when each marker line arrives; the delay is arrival minus
 * the line's own timestamp. Baseline: the double's stderr piped straight to the bench.
 */
export const relayBench: Benchmark = {
  name: 'relay',
  title: 'Log relay: 300,000 lines of 120 bytes',
  async run(ctx) {
    const rig = await Rig.start('relay');
    const direct: number[] = [];
    const relayed: number[] = [];
    const problems: string[] = [];
    const directDelays: number[] = [];
    const relayDelays: number[] = [];
    const directP99: number[] = [];
    const relayP99: number[] = [];
    try {
      for (let i = -1; i < ctx.runs; i++) {
        const d = await floodDirect(rig);
        const r = await floodThroughKumaDp(rig);
        if (i < 0) continue;
        direct.push(d.ms);
        relayed.push(r.ms);
        problems.push(...d.problems.map((p) => `direct: ${p}`), ...r.problems.map((p) => `kuma-dp: ${p}`));
        ctx.log(
          `run ${i + 1}: kuma-dp ${r.ms.toFixed(0)} ms (${mbps(r.ms)} MB/s), direct ${d.ms.toFixed(0)} ms (${mbps(d.ms)} MB/s); ` +
            `kuma-dp file: ${r.floodLines} flood lines${r.problems.length ? `, ${r.problems.length} problems` : ', all present, in order, whole'}`,
        );
      }
      for (let i = 0; i < ctx.runs; i++) {
        const d = await latencyRun(rig, 'direct');
        const r = await latencyRun(rig, 'kuma-dp');
        directDelays.push(...d);
        relayDelays.push(...r);
        directP99.push(percentile(d, 99));
        relayP99.push(percentile(r, 99));
        ctx.log(`latency run ${i + 1}: kuma-dp ${r.length} markers p99 ${percentile(r, 99).toFixed(1)} ms; direct ${d.length} markers p99 ${percentile(d, 99).toFixed(1)} ms`);
      }
    } finally {
      await rig.close();
    }
    const figures: Figure[] = [
      {
        name: 'relay-300k-lines',
        unit: 'ms',
        samples: relayed,
        baseline: { name: 'direct', samples: direct },
        target: { kind: 'throughput-min', value: 0.9 },
        note: `${(FLOOD_BYTES / 1e6).toFixed(0)} MB; throughput ratio = direct time / kuma-dp time`,
      },
      {
        name: 'relay-integrity',
        unit: '',
        samples: [],
        target: {
          kind: 'check',
          ok: problems.length === 0,
          detail: problems.length === 0 ? `${ctx.runs} x ${LINES} lines: none lost, split or out of order` : problems.slice(0, 3).join('; '),
        },
      },
      {
        name: 'line-delay-p99',
        unit: 'ms',
        samples: relayP99,
        baseline: { name: 'direct', samples: directP99 },
        target: { kind: 'info' },
        note:
          `p99 per run; all ${relayDelays.length} markers via kuma-dp: p50 ${percentile(relayDelays, 50).toFixed(1)}, p99 ${percentile(relayDelays, 99).toFixed(1)}, max ${Math.max(...relayDelays).toFixed(1)} ms; ` +
          `all ${directDelays.length} direct: p50 ${percentile(directDelays, 50).toFixed(1)}, p99 ${percentile(directDelays, 99).toFixed(1)}, max ${Math.max(...directDelays).toFixed(1)} ms`,
      },
    ];
    return figures;
  },
};

const mbps = (ms: number): string => (FLOOD_BYTES / 1e6 / (ms / 1000)).toFixed(0);

interface FloodResult {
  ms: number;
  floodLines: number;
  problems: string[];
}

function floodEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ENVOY_DOUBLE_FLOOD_LINES: String(LINES), ENVOY_DOUBLE_FLOOD_BYTES: String(LINE_BYTES), ENVOY_DOUBLE_FLOOD_STREAM: 'stderr', ...extra };
}

/** The double on its own, with the admin API on a pipe in `dir`. */
function spawnDouble(rig: Rig, dir: string, stdio: ['ignore', 'pipe' | number, 'pipe' | number]) {
  const config = join(dir, 'bootstrap.yaml');
  writeFileSync(config, defaultBootstrapYaml({ workdir: dir }));
  return track(spawn(rig.envoyPath, ['--config-path', config, '--log-level', 'info'], { env: baseEnv(floodEnv()), stdio }));
}

/** Polls the file until the last flood line is in it; returns that moment. */
async function waitForLastLine(file: string, what: string): Promise<number> {
  const fd = openSync(file, 'r');
  try {
    const tail = Buffer.alloc(1 << 20);
    return await until(
      () => {
        const size = fstatSync(fd).size;
        if (size < FLOOD_BYTES) return undefined;
        const at = Math.max(0, size - tail.length);
        const n = readSync(fd, tail, 0, tail.length, at);
        return tail.subarray(0, n).includes(LAST_LINE_HEAD) ? now() : undefined;
      },
      what,
      60_000,
      1,
    );
  } finally {
    closeSync(fd);
  }
}

/** The epoch ms of an Envoy log line's `[YYYY-MM-DD HH:MM:SS.mmm]` (local time) prefix. */
function envoyLineTime(line: string): number {
  const m = /^\[(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3})\]/.exec(line);
  if (!m) throw new Error(`not an Envoy log line: ${line.slice(0, 80)}`);
  const [, y, mo, d, h, mi, s, ms] = m.map(Number) as number[];
  return new Date(y!, mo! - 1, d!, h!, mi!, s!, ms!).getTime();
}

/** Flood start (from the loop-start line), and the integrity check of the whole file. */
function inspect(file: string): { floodStart: number; floodLines: number; problems: string[] } {
  const data = readFileSync(file);
  const problems: string[] = [];
  let floodStart = NaN;
  let expected = 1;
  const filler = Buffer.alloc(LINE_BYTES - 17, 'x');
  for (let start = 0; start < data.length; ) {
    let end = data.indexOf(0x0a, start);
    if (end === -1) {
      problems.push(`unterminated last line at byte ${start}`);
      end = data.length;
    }
    const line = data.subarray(start, end);
    if (line[0] === 0x66 /* f */ && line.subarray(0, 6).toString() === 'flood ') {
      const seq = Number(line.subarray(6, 15).toString());
      const whole = line.length === LINE_BYTES - 1 && line[15] === 0x20 && line.subarray(16).equals(filler);
      if (!whole) problems.push(`flood line ${seq} mangled (${line.length} bytes)`);
      if (seq !== expected) problems.push(`flood line ${seq} where ${expected} was expected`);
      expected = seq + 1;
    } else if (line[0] === 0x5b /* [ */) {
      if (line.includes(LOOP_START_TEXT)) floodStart = envoyLineTime(line.toString());
      if (line.includes('flood ')) problems.push(`a flood line inside a log line: ${line.subarray(0, 100).toString()}`);
    } else if (line.length > 0) {
      problems.push(`unexpected line: ${line.subarray(0, 60).toString()}`);
    }
    if (problems.length > 5) break;
    start = end + 1;
  }
  if (expected !== LINES + 1) problems.push(`${expected - 1} of ${LINES} flood lines`);
  if (Number.isNaN(floodStart)) problems.push(`no "${LOOP_START_TEXT}" line`);
  return { floodStart, floodLines: expected - 1, problems };
}

async function floodDirect(rig: Rig): Promise<FloodResult> {
  const dir = rig.runDir('direct');
  const out = join(dir, 'out');
  const fd = openSync(out, 'w');
  const child = spawnDouble(rig, dir, ['ignore', fd, fd]);
  closeSync(fd);
  const end = await waitForLastLine(out, 'the double to write the flood into the file');
  child.kill('SIGKILL');
  const found = inspect(out);
  return { ms: end - found.floodStart, floodLines: found.floodLines, problems: found.problems };
}

async function floodThroughKumaDp(rig: Rig): Promise<FloodResult> {
  const dir = rig.runDir('relay');
  const out = join(dir, 'out');
  const fd = openSync(out, 'w');
  const dp = spawnKumaDp(rig.args(join(dir, 'work')), await rig.env(floodEnv()), fd);
  closeSync(fd);
  let end: number;
  try {
    end = await waitForLastLine(out, 'kuma-dp to relay the flood into the file');
  } catch (err) {
    throw new Error(`${(err as Error).message}; kuma-dp stderr:\n${dp.stderr()}`);
  }
  await stopKumaDp(dp, 'relay');
  const found = inspect(out);
  return { ms: end - found.floodStart, floodLines: found.floodLines, problems: found.problems };
}

/**
 * Reads Envoy's output as it arrives: notes each marker line's delay, and resolves `done` when
 * the last flood line is in. Only log lines contain '[', so flood lines are skipped cheaply.
 */
function watchMarkers(stream: Readable): { delays: number[]; floodStarted: Promise<void>; done: Promise<void> } {
  const delays: number[] = [];
  let carry: Buffer = Buffer.alloc(0);
  let started!: () => void;
  let finished!: () => void;
  const floodStarted = new Promise<void>((resolve) => (started = resolve));
  const done = new Promise<void>((resolve) => (finished = resolve));
  let seenFlood = false;
  let over = false;
  stream.on('data', (chunk: Buffer) => {
    const arrived = now();
    if (over) return;
    if (!seenFlood && chunk.includes('flood ')) {
      seenFlood = true;
      started();
    }
    const data = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let from = 0;
    for (;;) {
      const bracket = data.indexOf(0x5b, from);
      if (bracket === -1) break;
      const newline = data.indexOf(0x0a, bracket);
      if (newline === -1) {
        from = bracket;
        break;
      }
      const line = data.subarray(bracket, newline);
      if (line.includes(MARKER_TEXT)) delays.push(arrived - envoyLineTime(line.toString('latin1', 0, 30)));
      from = newline + 1;
    }
    const lastNewline = data.lastIndexOf(0x0a);
    carry = Buffer.from(data.subarray(Math.max(from, lastNewline + 1)));
    if (data.includes(LAST_LINE_HEAD)) {
      over = true;
      finished();
    }
  });
  return { delays, floodStarted, done };
}

/** GETs /logging on the admin pipe every 10 ms until stopped. */
function sendMarkers(socketPath: string): () => void {
  let stopped = false;
  const timer = setInterval(() => {
    if (stopped) return;
    const req = request({ socketPath, path: '/logging', method: 'GET', agent: false }, (res) => res.resume());
    req.on('error', () => undefined);
    req.end();
  }, MARKER_EVERY_MS);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

async function latencyRun(rig: Rig, mode: 'direct' | 'kuma-dp'): Promise<number[]> {
  const dir = rig.runDir(`latency-${mode}`);
  let stop = (): Promise<void> => Promise.resolve();
  let watch: ReturnType<typeof watchMarkers>;
  let socket: string;
  if (mode === 'direct') {
    const child = spawnDouble(rig, dir, ['ignore', 'pipe', 'pipe']);
    child.stdout!.resume();
    watch = watchMarkers(child.stderr!);
    socket = join(dir, 'kuma-envoy-admin.sock');
    stop = async () => void child.kill('SIGKILL');
  } else {
    const work = join(dir, 'work');
    mkdirSync(work);
    const dp = spawnKumaDp(rig.args(work), await rig.env(floodEnv()), 'pipe');
    watch = watchMarkers(dp.child.stdout!);
    socket = join(work, 'kuma-envoy-admin.sock');
    stop = () => stopKumaDp(dp, 'latency');
  }
  await Promise.race([watch.floodStarted, sleep(20_000).then(() => Promise.reject(new Error(`${mode}: the flood did not start`)))]);
  const stopMarkers = sendMarkers(socket);
  try {
    await Promise.race([watch.done, sleep(60_000).then(() => Promise.reject(new Error(`${mode}: the flood did not end`)))]);
  } finally {
    stopMarkers();
    await stop();
  }
  return watch.delays;
}
