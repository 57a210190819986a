import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { Logger } from '../../src/logging/logger.js';
import { LINE_CONTINUES_MARKER, LogRelay } from '../../src/logging/relay.js';
import { waitFor, waitForExit } from '../support/wait.js';

const LINE_BYTES = 120;

/** Line i of a generated stream: prefix, 8-digit sequence, filler; 120 bytes with its newline. */
function line(prefix: string, i: number): string {
  const head = `${prefix}${String(i).padStart(8, '0')} `;
  return `${head}${'x'.repeat(LINE_BYTES - 1 - head.length)}\n`;
}

/** A child writing `count` generated lines to fd 1 or 2 in 1000-line writes. */
const GENERATOR = `
const [count, prefix, fd] = [Number(process.argv[1]), process.argv[2], Number(process.argv[3])];
const out = fd === 2 ? process.stderr : process.stdout;
function line(prefix, i) {
  const head = prefix + String(i).padStart(8, '0') + ' ';
  return head + 'x'.repeat(${LINE_BYTES - 1} - head.length) + '\\n';
}
let i = 0;
function go() {
  while (i < count) {
    let batch = '';
    for (let k = 0; k < 1000 && i < count; k++, i++) batch += line(prefix, i);
    if (!out.write(batch)) return out.once('drain', go);
  }
}
go();
`;

function generator(count: number, prefix: string, fd: 1 | 2): ChildProcess {
  return spawn(process.execPath, ['-e', GENERATOR, String(count), prefix, String(fd)], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function expected(count: number, prefix: string): string {
  let text = '';
  for (let i = 0; i < count; i++) text += line(prefix, i);
  return text;
}

/** Feeds a relay from in-process streams, chunk by chunk, so tests control chunk boundaries. */
async function relayChunks(relay: LogRelay, chunks: (string | Buffer)[], source: 'stdout' | 'stderr' = 'stdout'): Promise<void> {
  const stream = new PassThrough();
  relay.attach(stream, source);
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  await relay.drained();
}

class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  constructor(private readonly delayMs = 0) {
    super({ highWaterMark: 1024 });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    if (this.delayMs > 0) setTimeout(callback, this.delayMs);
    else callback();
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

describe('Envoy log relay', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kuma-dp-relay-'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('relays 300,000 lines of 120 bytes from a child into a file, whole and in order', async () => {
    const path = join(dir, 'out.log');
    const out = createWriteStream(path);
    try {
      const relay = new LogRelay({ out });
      const child = generator(300_000, 'L', 1);
      relay.attach(child.stdout!, 'stdout');
      relay.attach(child.stderr!, 'stderr');
      await relay.drained();
      expect((await waitForExit(child, 10_000)).code).to.equal(0);
      expect(relay.writeErrors).to.equal(0);
    } finally {
      await new Promise((resolve) => out.end(resolve));
    }
    const written = readFileSync(path, 'latin1');
    expect(written.length).to.equal(300_000 * LINE_BYTES);
    expect(written === expected(300_000, 'L')).to.equal(true);
  });

  it('never interleaves two concurrent sources inside a line, through a slow stream', async () => {
    const path = join(dir, 'out.log');
    const out = createWriteStream(path);
    const relay = new LogRelay({ out });
    const a = generator(30_000, 'A', 1);
    const b = generator(30_000, 'B', 2);
    relay.attach(a.stdout!, 'stdout');
    relay.attach(b.stderr!, 'stderr');
    await relay.drained();
    await new Promise((resolve) => out.end(resolve));
    const lines = readFileSync(path, 'latin1').split('\n');
    expect(lines.pop()).to.equal('');
    const next = { A: 0, B: 0 };
    for (const text of lines) {
      const prefix = text[0] as 'A' | 'B';
      expect(`${text}\n`).to.equal(line(prefix, next[prefix]));
      next[prefix] += 1;
    }
    expect(next).to.deep.equal({ A: 30_000, B: 30_000 });
  });

  it('splits a 200 KiB line into marked pieces and keeps every byte', async () => {
    const out = new Collector();
    const relay = new LogRelay({ out });
    const child = spawn(process.execPath, ['-e', `process.stdout.write('a'.repeat(200 * 1024) + '\\nafter\\n')`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    relay.attach(child.stdout!, 'stdout');
    await relay.drained();
    const lines = out.text().split('\n');
    expect(lines.map((l) => l.length)).to.deep.equal([
      65_536 + LINE_CONTINUES_MARKER.length,
      65_536 + LINE_CONTINUES_MARKER.length,
      65_536 + LINE_CONTINUES_MARKER.length,
      8192,
      'after'.length,
      0,
    ]);
    expect(lines.slice(0, 3).every((l) => l.endsWith(LINE_CONTINUES_MARKER))).to.equal(true);
    expect(lines.slice(0, 4).join('').split(LINE_CONTINUES_MARKER).join('')).to.equal('a'.repeat(200 * 1024));
    expect(lines[4]).to.equal('after');
  });

  it('splits long lines across small chunks and never inside a UTF-8 character', async () => {
    const out = new Collector();
    const relay = new LogRelay({ out, maxLineBytes: 100 });
    const long = '€'.repeat(100); // 300 bytes; 100 is not a multiple of 3
    const bytes = Buffer.from(`${long}\nshort\n`);
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 7) chunks.push(bytes.subarray(at, at + 7));
    await relayChunks(relay, chunks);
    const lines = out.text().split('\n');
    expect(lines.at(-2)).to.equal('short');
    const pieces = lines.slice(0, -2);
    expect(pieces.length).to.be.greaterThan(2);
    for (const piece of pieces.slice(0, -1)) {
      expect(piece.endsWith(LINE_CONTINUES_MARKER)).to.equal(true);
      expect(Buffer.byteLength(piece.slice(0, -LINE_CONTINUES_MARKER.length))).to.be.at.most(100);
    }
    expect(out.text()).to.not.contain('\uFFFD');
    expect(pieces.join('').split(LINE_CONTINUES_MARKER).join('')).to.equal(long);
  });

  it('keeps a line of exactly maxLineBytes whole', async () => {
    const out = new Collector();
    const relay = new LogRelay({ out, maxLineBytes: 64 });
    await relayChunks(relay, [`${'b'.repeat(64)}\n${'c'.repeat(65)}\n`]);
    expect(out.text()).to.equal(`${'b'.repeat(64)}\n${'c'.repeat(64)}${LINE_CONTINUES_MARKER}\nc\n`);
  });

  it('writes only whole lines and ends a trailing partial line with a newline', async () => {
    const out = new Collector();
    const relay = new LogRelay({ out });
    await relayChunks(relay, ['one\ntw', 'o\nthr', 'ee', '\nno newline at the end']);
    expect(out.chunks.map(String)).to.deep.equal(['one\n', 'two\n', 'three\n', 'no newline at the end\n']);
  });

  it('applies a transform per line, split pieces included', async () => {
    const out = new Collector();
    const relay = new LogRelay({
      out,
      maxLineBytes: 16,
      transform: (text, source) => JSON.stringify({ source, message: text.toString('utf8') }),
    });
    await relayChunks(relay, ['hello\nsecond li', `ne that is long\n`], 'stderr');
    expect(
      out
        .text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as unknown),
    ).to.deep.equal([
      { source: 'stderr', message: 'hello' },
      { source: 'stderr', message: `second line that${LINE_CONTINUES_MARKER}` },
      { source: 'stderr', message: ' is long' },
    ]);
    expect(relay.tail()).to.deep.equal(['hello', `second line that${LINE_CONTINUES_MARKER}`, ' is long']);
  });

  it('pauses the sources while the output needs to drain, and loses nothing', async () => {
    const out = new Collector(1);
    const relay = new LogRelay({ out });
    const source = new PassThrough();
    relay.attach(source, 'stdout');
    const text = expected(2000, 'P');
    source.write(text.slice(0, 100_001));
    await waitFor(() => source.isPaused(), { timeoutMs: 2000, what: 'the relay to pause its source' });
    source.end(text.slice(100_001));
    await relay.drained();
    expect(out.text()).to.equal(text);
  });

  it('keeps draining the source when the output pipe has no reader', async () => {
    // The reader closes its end of the pipe and stays alive, so our writes fail with EPIPE.
    const reader = spawn(process.execPath, ['-e', `require('fs').closeSync(0); console.log('closed'); setInterval(() => {}, 1000)`], {
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    try {
      let said = '';
      reader.stdout!.setEncoding('utf8').on('data', (chunk: string) => (said += chunk));
      await waitFor(() => said.includes('closed'), { timeoutMs: 10_000, what: 'the reader to close its stdin' });
      const logPath = join(dir, 'log.json');
      const relay = new LogRelay({ out: reader.stdin!, logger: Logger.create({ level: 'info', format: 'json', outputPath: logPath }) });
      const child = generator(50_000, 'E', 1);
      relay.attach(child.stdout!, 'stdout');
      relay.attach(child.stderr!, 'stderr');
      await relay.drained();
      expect((await waitForExit(child, 10_000)).code).to.equal(0);
      expect(relay.writeErrors).to.equal(1);
      expect(relay.discardedBytes).to.be.greaterThan(0);
      expect(relay.tail().at(-1)).to.equal(line('E', 49_999).trimEnd());
      const warnings = readFileSync(logPath, 'utf8').trim().split('\n');
      expect(warnings).to.have.length(1);
      expect(JSON.parse(warnings[0]!)).to.deep.include({ level: 'warn', message: "cannot write Envoy's output; discarding it from now on", err: 'EPIPE' });
    } finally {
      reader.kill('SIGKILL');
      await waitForExit(reader, 10_000);
    }
  });

  it('discards, once reported, what comes after the output stream was closed', async () => {
    const out = new Collector();
    const relay = new LogRelay({ out });
    await relayChunks(relay, ['before\n']);
    out.destroy();
    await relayChunks(relay, ['after\n', 'more\n']);
    expect(out.text()).to.equal('before\n');
    expect(relay.writeErrors).to.equal(1);
    expect(relay.discardedBytes).to.equal('after\nmore\n'.length);
  });

  it("swallows a write error of kuma-dp's own stdout on a full disk: counted once, the rest discarded, the tail kept", async () => {
    // kuma-dp's stdout as it is in production, a file on a full disk: Node's SyncWriteStream on fd 1.
    const script = `
      import { PassThrough } from 'node:stream';
      import { LogRelay } from ${JSON.stringify(new URL('../../src/logging/relay.js', import.meta.url).href)};
      const relay = new LogRelay();
      const source = new PassThrough();
      relay.attach(source, 'stdout');
      for (const chunk of ['one\\n', 'two\\n', 'three\\n']) source.write(chunk);
      source.end();
      await relay.drained();
      process.stderr.write(JSON.stringify({ errors: relay.writeErrors, discarded: relay.discardedBytes, tail: relay.tail() }));
    `;
    const full = openSync('/dev/full', 'w');
    // Synchronous: the report is whole once it returns (an 'exit' event can come before the pipe's end).
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8', timeout: 10_000 });
    closeSync(full);
    expect(child.status, child.stderr).to.equal(0);
    expect(JSON.parse(child.stderr)).to.deep.equal({ errors: 1, discarded: 'one\ntwo\nthree\n'.length, tail: ['one', 'two', 'three'] });
  });

  describe('memory', () => {
    it('asks for a collection after every collectEveryBytes read, counting across sources', async () => {
      let collections = 0;
      const relay = new LogRelay({ out: new Collector(), collectGarbage: () => (collections += 1), collectEveryBytes: 1000 });
      await relayChunks(relay, [line('a', 0).repeat(5), line('a', 1).repeat(4)]);
      expect(collections, '1080 bytes read').to.equal(1);
      await relayChunks(relay, [line('b', 0).repeat(9)], 'stderr');
      expect(collections, '2160 bytes read').to.equal(2);
    });

    it('keeps copies of the last lines, not views that would hold the read buffers', async () => {
      const relay = new LogRelay({ out: new Collector(), tailLines: 2 });
      const chunk = Buffer.from('one\ntwo\nthree\n');
      await relayChunks(relay, [chunk]);
      chunk.fill('#');
      expect(relay.tail()).to.deep.equal(['two', 'three']);
    });
  });

  describe('forensics', () => {
    it('keeps the last tailLines lines across sources', async () => {
      const relay = new LogRelay({ out: new Collector(), tailLines: 3 });
      await relayChunks(relay, ['1\n2\n3\n4\n']);
      await relayChunks(relay, ['e1\n', 'e2\n'], 'stderr');
      expect(relay.tail()).to.deep.equal(['4', 'e1', 'e2']);
    });

    it("prefers the last line at Envoy's error or critical level", async () => {
      const relay = new LogRelay({ out: new Collector() });
      await relayChunks(
        relay,
        [
          '[2025-01-01 00:00:00.000][1][info][main] starting\n',
          '[2025-01-01 00:00:00.001][1][critical][main] error initializing configuration: bad cluster\n',
          '[2025-01-01 00:00:00.002][1][info][main] exiting\n',
        ],
        'stderr',
      );
      await relayChunks(relay, ['stdout chatter\n']);
      expect(relay.lastErrorLine()).to.equal(
        '[2025-01-01 00:00:00.001][1][critical][main] error initializing configuration: bad cluster',
      );
    });

    it('falls back to the last non-empty stderr line', async () => {
      const relay = new LogRelay({ out: new Collector() });
      expect(relay.lastErrorLine()).to.equal(undefined);
      await relayChunks(relay, ['Unable to parse JSON as proto\n', 'sorry\n\n  \n'], 'stderr');
      await relayChunks(relay, ['a stdout line\n'], 'stdout');
      expect(relay.lastErrorLine()).to.equal('sorry');
    });

    it("forgets an earlier run's error line when a new run starts, but keeps the tail", async () => {
      const relay = new LogRelay({ out: new Collector() });
      await relayChunks(relay, ['[2025-01-01 00:00:00.001][1][critical][main] old failure\n'], 'stderr');
      relay.startRun();
      expect(relay.lastErrorLine()).to.equal(undefined);
      expect(relay.tail().at(-1)).to.match(/old failure/);
      await relayChunks(relay, ['new reason\n'], 'stderr');
      expect(relay.lastErrorLine()).to.equal('new reason');
    });

    it('finds the error line in a real child process stderr', async () => {
      const relay = new LogRelay({ out: new Collector() });
      const child = spawn(
        process.execPath,
        ['-e', `console.error('[t][1][error][config] bad bootstrap'); console.error('[t][1][info][main] exiting'); console.log('bye')`],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      relay.attach(child.stdout!, 'stdout');
      relay.attach(child.stderr!, 'stderr');
      await relay.drained();
      expect(relay.lastErrorLine()).to.equal('[t][1][error][config] bad bootstrap');
      expect(relay.tail()).to.include('bye').and.include('[t][1][info][main] exiting');
    });
  });
});
