import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventsOf } from '../doubles/envoy-record.js';
import { waitFor, waitForExit } from '../support/wait.js';
import { cleanupTempDirs } from '../support/tmp.js';
import { getReady, KUMA_DP_BIN } from '../support/kuma-dp.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';
import { LINE_CONTINUES_MARKER } from '../../src/logging/relay.js';
import { colorWanted, loadColors, Logger } from '../../src/logging/logger.js';
import { adminCalls, entries, jsonLog, killLeftovers, start, track } from './support.js';

const ESC = '\u001b[';

/**
 * Checks kuma-dp's stdout as it streams by, without keeping 36 MB around: every flood line whole
 * and in sequence, the pieces of the long line joined back, every other line an Envoy log line.
 */
class StdoutChecker {
  floodLines = 0;
  longLine = '';
  longPieces = 0;
  problems: string[] = [];
  private pending = '';

  constructor(private readonly floodBytes: number) {}

  push(chunk: string): void {
    const text = this.pending + chunk;
    const end = text.lastIndexOf('\n');
    if (end === -1) {
      this.pending = text;
      return;
    }
    this.pending = text.slice(end + 1);
    for (const line of text.slice(0, end).split('\n')) this.line(line);
  }

  private line(line: string): void {
    if (this.problems.length > 5) return;
    if (line.startsWith('flood ')) {
      const seq = Number(line.slice(6, 15));
      if (seq !== this.floodLines + 1) this.problems.push(`flood line ${seq} after ${this.floodLines}`);
      if (line.length !== this.floodBytes - 1 || !/^flood \d{9} x+$/.test(line)) this.problems.push(`torn flood line: ${line.slice(0, 80)}…`);
      this.floodLines = seq;
    } else if (line.startsWith('long-line ') || (this.longPieces > 0 && this.longLine.endsWith('…'))) {
      this.longPieces += 1;
      const piece = line.endsWith(LINE_CONTINUES_MARKER) ? `${line.slice(0, -LINE_CONTINUES_MARKER.length)}…` : line;
      this.longLine = this.longLine.replace(/…$/, '') + piece;
    } else if (!line.startsWith('[')) {
      this.problems.push(`a line that is neither Envoy's nor the flood's: ${line.slice(0, 80)}`);
    }
  }
}

describe("logs: ours on stderr, Envoy's through the relay", function () {
  afterEach(killLeftovers);
  let fx: RunFixture;
  beforeEach(async () => {
    fx = await runFixture();
  });
  afterEach(() => fx.close());
  after(cleanupTempDirs);

  it('--log-format json: every line of ours is one JSON object with time, level, logger, message', async () => {
    const dp = start(fx, ['--log-format', 'json', '--envoy-restart', 'on-failure', '--envoy-restart-backoff', '50ms'], {
      env: { ENVOY_DOUBLE_CRASH_AFTER_MS_1: '200' },
    });
    await fx.waitLive(dp, 2);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
    const log = jsonLog(dp.stderr());
    expect(log.length).to.be.greaterThan(10);
    for (const entry of log) {
      expect(Number.isNaN(Date.parse(entry.time)), entry.time).to.equal(false);
      expect(entry.level).to.be.oneOf(['debug', 'info', 'warn', 'error']);
      expect(entry.logger).to.match(/^kuma-dp(\.|$)/);
      expect(entry.message).to.be.a('string').and.not.equal('');
    }
    // Fields stay typed values, not text.
    expect(entries(dp.stderr(), 'Envoy ended; restarting')[0]!.restart).to.equal(1);
    expect(dp.stdout(), "Envoy's lines stay raw by default").to.match(/^\[[^\]]+\]\[\d+\]\[info\]\[main\] /m);
  });

  for (const mode of ['tagged', 'json'] as const) {
    it(`--envoy-output ${mode} ${mode === 'tagged' ? "prefixes every Envoy line with 'envoy '" : 'wraps every Envoy line in a JSON object'}`, async () => {
      const dp = start(fx, ['--envoy-output', mode], { env: { ENVOY_DOUBLE_STDOUT_LINES: '3' } });
      await fx.waitLive(dp);
      dp.signal('SIGTERM');
      expect((await dp.waitForExit()).code).to.equal(0);
      const lines = dp.stdout().trimEnd().split('\n');
      expect(dp.stderr(), 'our text lines on a pipe: no colours').to.include('\tINFO\t').and.not.include(ESC);
      if (mode === 'tagged') {
        for (const line of lines) expect(line).to.match(/^envoy /);
        expect(lines).to.include('envoy stdout line 1');
        expect(lines.some((line) => /^envoy \[[^\]]+\]\[\d+\]\[info\]\[main\]/.test(line))).to.equal(true);
      } else {
        const wrapped = jsonLog(dp.stdout());
        expect(wrapped).to.have.length(lines.length);
        for (const entry of wrapped) expect(entry.logger).to.equal('envoy');
        expect(wrapped.find((e) => e.message === 'stdout line 2')).to.include({ source: 'stdout', level: 'info' });
        expect(wrapped.find((e) => / caught ENVOY_SIGTERM$/.test(e.message))).to.include({ source: 'stderr', level: 'info' });
      }
    });
  }

  it('a flood of 300,000 lines of 120 bytes and a 200 KiB line arrive complete, whole and in order', async function () {
    const LINES = 300_000;
    const LONG = 200 * 1024;
    const child = track(spawn(process.execPath, [KUMA_DP_BIN, ...fx.args()], {
      env: { ...fx.env, ENVOY_DOUBLE_FLOOD_LINES: String(LINES), ENVOY_DOUBLE_FLOOD_STREAM: 'stdout', ENVOY_DOUBLE_LONG_LINE_BYTES: String(LONG) },
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    const checker = new StdoutChecker(120);
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => checker.push(chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const started = Date.now();
    try {
      await waitFor(() => eventsOf(fx.record(), 'flood').length > 0 && checker.longLine.length >= LONG - 1, {
        timeoutMs: 20_000,
        what: `the flood through kuma-dp (${checker.floodLines} lines so far); stderr:\n${stderr}`,
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect((await waitForExit(child, 15_000)).code).to.equal(0);
    expect(checker.problems).to.deep.equal([]);
    expect(checker.floodLines).to.equal(LINES);
    expect(checker.longPieces, '200 KiB in 64 KiB pieces').to.equal(4);
    expect(checker.longLine).to.equal(`long-line ${'y'.repeat(LONG - 'long-line '.length - 1)}`);
    expect(Date.now() - started).to.be.below(20_000);
  });

  for (const closed of ['stdout', 'stderr'] as const) {
    it(`a closed ${closed} (EPIPE) does not stop supervision: Envoy keeps running and SIGTERM still drains`, async () => {
      const child = track(spawn(process.execPath, [KUMA_DP_BIN, ...fx.args(['--log-format', 'json'])], {
        env: { ...fx.env, ENVOY_DOUBLE_FLOOD_LINES: '50000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }));
      // Our end of the pipe goes away at once: every write to it fails.
      child[closed]!.destroy();
      let stderr = '';
      if (closed === 'stdout') child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      else child.stdout!.resume();
      await waitFor(() => eventsOf(fx.record(), 'flood').length > 0, { timeoutMs: 20_000, what: `the flood to be written; stderr:\n${stderr}` });
      await waitFor(async () => (await getReady(fx.readinessPort)).status === 200, { timeoutMs: 10_000, what: 'readiness 200' });
      child.kill('SIGTERM');
      expect((await waitForExit(child, 15_000)).code).to.equal(0);
      expect(adminCalls(fx.record())).to.include('POST /healthcheck/fail');
      if (closed === 'stdout') expect(entries(stderr, /cannot write Envoy's output/), 'told once').to.have.length(1);
    });
  }

  it('colours its own text lines on stderr when FORCE_COLOR asks for them, and only then', async () => {
    for (const [env, coloured] of [[{ FORCE_COLOR: '1' }, true], [{}, false]] as const) {
      const dp = start(fx, [], { env });
      await waitFor(() => dp.stderr().includes('Envoy is live'), { timeoutMs: 20_000, what: `Envoy is live; stderr:\n${dp.stderr()}` });
      dp.signal('SIGTERM');
      expect((await dp.waitForExit()).code).to.equal(0);
      const live = dp.stderr().split('\n').find((line) => line.includes('Envoy is live'))!;
      if (coloured) expect(live, 'the level in cyan').to.include(`${ESC}36mINFO${ESC}39m`);
      else expect(live).not.to.include(ESC);
    }
  });

  it('--log-output-path writes our own lines to the file, none to stderr', async () => {
    const path = join(fx.dir, 'kuma-dp.log');
    const dp = start(fx, ['--log-output-path', path]);
    await waitFor(() => readFileSync(path, 'utf8').includes('Envoy is live'), { timeoutMs: 20_000, what: 'Envoy is live in the log file' });
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
    expect(dp.stderr()).to.equal('');
    expect(dp.stdout().split('\n')[0], 'announced, as kuma-dp does').to.equal(`kuma-dp: logs will be stored in "${path}"`);
    const text = readFileSync(path, 'utf8');
    expect(text).to.match(/\tINFO\tkuma-dp\.run\.envoy\tEnvoy is live\t/);
    expect(text).to.match(/drain finished/);
    expect(text, 'no colours in a file').not.to.include(ESC);
  });

  describe('colours', () => {
    const tty = { isTTY: true } as NodeJS.WriteStream;
    const pipe = { isTTY: false } as NodeJS.WriteStream;

    it('only on a TTY, and never with NO_COLOR', () => {
      expect(colorWanted(tty, {})).to.equal(true);
      expect(colorWanted(pipe, {})).to.equal(false);
      expect(colorWanted(tty, { NO_COLOR: '1' })).to.equal(false);
      expect(colorWanted(tty, { NO_COLOR: '' }), 'an empty NO_COLOR does not count').to.equal(true);
    });

    it('text lines carry ANSI colours only when asked; JSON never', async () => {
      const colors = await loadColors();
      const render = (format: 'text' | 'json', color: boolean) =>
        Logger.create({ level: 'off', format, colors: color ? colors : undefined }).render('warn', 'drain', { pid: 1 });
      expect(render('text', true)).to.include(ESC);
      expect(render('text', false)).not.to.include(ESC);
      expect(render('json', true)).not.to.include(ESC);
      expect(JSON.parse(render('json', true))).to.include({ level: 'warn', message: 'drain', pid: 1 });
    });
  });
});
