import { writeSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from './logger.js';

export type LogSource = 'stdout' | 'stderr';

/**
 * Appended to every piece of a split over-long line except the last, so a reader sees the line was
 * cut (and where) instead of silently getting several unrelated-looking lines.
 */
export const LINE_CONTINUES_MARKER = ' [kuma-dp: line continues]';

export interface LogRelayOptions {
  /** A file descriptor (written synchronously) or a stream; default process.stdout. */
  out?: number | Writable;
  /** Longest line written in one piece, newline excluded; longer lines are split with LINE_CONTINUES_MARKER. */
  maxLineBytes?: number;
  /** How many recent lines tail() keeps. */
  tailLines?: number;
  /**
   * Rewrites each line (given without its newline; the relay appends one). Without it, whole chunks
   * are copied through untouched.
   */
  transform?: (line: Buffer, source: LogSource) => Buffer | string;
  /** Told once when the output fails and Envoy's output starts being discarded. */
  logger?: Logger;
}

const NEWLINE = 0x0a;
const NEWLINE_BUFFER = Buffer.from('\n');
const MARKER_LINE_END = Buffer.from(`${LINE_CONTINUES_MARKER}\n`);
const ERROR_LEVELS = [Buffer.from('[error]'), Buffer.from('[critical]')];
/** Errors after which a descriptor will never take data again; anything else only loses the write at hand. */
const FATAL_FD_ERRORS = new Set(['EBADF', 'EPIPE', 'EINVAL', 'ECONNRESET']);

interface Sink {
  /** Hands whole lines to the output; false asks the caller to pause until the drain callback. */
  write(data: Buffer): boolean;
  /** Resolves when everything written so far has reached the OS (or was discarded). */
  flushed(): Promise<void>;
}

interface SinkEvents {
  drain(): void;
  /** An output error; permanently: nothing more will be written. */
  failed(err: Error, permanently: boolean): void;
  /** Bytes that did not reach the output. */
  discarded(bytes: number): void;
}

class StreamSink implements Sink {
  private inflight = 0;
  private waiters: (() => void)[] = [];
  private broken = false;

  constructor(
    private readonly out: Writable,
    private readonly events: SinkEvents,
  ) {
    // Without an 'error' listener an EPIPE on our stdout would crash the supervisor.
    out.on('error', (err) => this.fail(err));
    out.on('drain', () => events.drain());
  }

  write(data: Buffer): boolean {
    if (!this.broken && (this.out.destroyed || this.out.writableEnded)) this.fail(new Error('output stream is closed'));
    if (this.broken) {
      this.events.discarded(data.length);
      return true;
    }
    this.inflight += 1;
    return this.out.write(data, (err) => {
      this.inflight -= 1;
      if (err) {
        this.events.discarded(data.length);
        this.fail(err);
      }
      if (this.inflight === 0) this.wake();
    });
  }

  flushed(): Promise<void> {
    if (this.inflight === 0 || this.broken) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A stream that failed once is destroyed: report it once, then discard. */
  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = true;
    this.events.failed(err, true);
    // Nothing will drain any more: let the sources flow again so Envoy never blocks on its pipes.
    this.events.drain();
    this.wake();
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}

class FdSink implements Sink {
  private queue: Buffer[] = [];
  private waiters: (() => void)[] = [];
  private broken = false;
  private retryDelayMs = 1;

  constructor(
    private readonly fd: number,
    private readonly events: SinkEvents,
  ) {}

  write(data: Buffer): boolean {
    if (this.broken) {
      this.events.discarded(data.length);
      return true;
    }
    if (this.queue.length > 0) {
      this.queue.push(data);
      return false;
    }
    const rest = this.writeNow(data);
    if (!rest) return true;
    this.queue.push(rest);
    this.scheduleRetry();
    return false;
  }

  flushed(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Writes all of data; returns what is left when the descriptor is non-blocking and full. */
  private writeNow(data: Buffer): Buffer | undefined {
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += writeSync(this.fd, data, offset);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (code === 'EAGAIN') return data.subarray(offset);
        if (FATAL_FD_ERRORS.has(code)) this.broken = true;
        this.events.failed(err as Error, this.broken);
        this.events.discarded(data.length - offset);
        return undefined;
      }
    }
    return undefined;
  }

  private scheduleRetry(): void {
    setTimeout(() => this.retry(), this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 64);
  }

  private retry(): void {
    while (this.queue.length > 0) {
      if (this.broken) {
        this.events.discarded(this.queue.reduce((sum, data) => sum + data.length, 0));
        this.queue = [];
        break;
      }
      const rest = this.writeNow(this.queue[0]!);
      if (rest) {
        this.queue[0] = rest;
        this.scheduleRetry();
        return;
      }
      this.queue.shift();
    }
    this.retryDelayMs = 1;
    this.events.drain();
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}

interface Attached {
  stream: Readable;
  source: LogSource;
  /** The current incomplete line; never longer than maxLineBytes. */
  pending: Buffer[];
  pendingBytes: number;
  ended: Promise<void>;
  done: boolean;
}

/**
 * Relays Envoy's stdout and stderr to one output so that every write holds whole lines only:
 * the two sources never interleave inside a line. Without a transform a chunk is written up to its
 * last newline in a single write; only over-long lines are found (by jumping maxLineBytes at a
 * time) and split. Output failures are counted and swallowed while the sources keep being read,
 * so a closed stdout never blocks Envoy nor stops supervision.
 */
export class LogRelay {
  private readonly sink: Sink;
  private readonly maxLineBytes: number;
  private readonly tailLines: number;
  private readonly transform: LogRelayOptions['transform'];
  private readonly logger: Logger | undefined;
  private readonly attached: Attached[] = [];
  private readonly recent: string[] = [];
  private lastLevelError: string | undefined;
  private lastStderr: string | undefined;
  private paused = false;
  private errors = 0;
  private discarded = 0;

  constructor(options: LogRelayOptions = {}) {
    this.maxLineBytes = options.maxLineBytes ?? 65_536;
    if (!Number.isInteger(this.maxLineBytes) || this.maxLineBytes < 16) {
      throw new RangeError(`maxLineBytes must be an integer of at least 16, got ${this.maxLineBytes}`);
    }
    this.tailLines = options.tailLines ?? 20;
    this.transform = options.transform;
    this.logger = options.logger;
    const events: SinkEvents = {
      drain: () => this.resume(),
      failed: (err, permanently) => this.onOutputError(err, permanently),
      discarded: (bytes) => {
        this.discarded += bytes;
      },
    };
    const out = options.out ?? process.stdout;
    this.sink = typeof out === 'number' ? new FdSink(out, events) : new StreamSink(out, events);
  }

  /** Output errors seen (a failed stream counts once), and the bytes that never reached the output. */
  get writeErrors(): number {
    return this.errors;
  }

  get discardedBytes(): number {
    return this.discarded;
  }

  attach(stream: Readable, source: LogSource): void {
    let finish!: () => void;
    const entry: Attached = {
      stream,
      source,
      pending: [],
      pendingBytes: 0,
      ended: new Promise((resolve) => (finish = resolve)),
      done: false,
    };
    this.attached.push(entry);
    const end = (): void => {
      if (entry.done) return;
      entry.done = true;
      if (entry.pendingBytes > 0) {
        const block = Buffer.concat([...entry.pending, NEWLINE_BUFFER]);
        entry.pending = [];
        entry.pendingBytes = 0;
        this.emit(block, source);
      }
      finish();
    };
    stream.on('data', (chunk: Buffer | string) => this.onChunk(entry, typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.once('end', end);
    // A source torn down without 'end' (destroyed, read error) still flushes what it gave us.
    stream.once('close', end);
    stream.on('error', (err) => {
      this.logger?.debug('reading Envoy output failed', { source, err });
      end();
    });
    if (this.paused) stream.pause();
  }

  /** The last tailLines complete lines, oldest first, across sources (for crash reports). */
  tail(): string[] {
    return [...this.recent];
  }

  /** The last line at Envoy's error or critical level, else the last non-empty stderr line. */
  lastErrorLine(): string | undefined {
    return this.lastLevelError ?? this.lastStderr;
  }

  /** Resolves once every stream attached so far has ended and its output has been flushed. */
  async drained(): Promise<void> {
    await Promise.all(this.attached.map((entry) => entry.ended));
    await this.sink.flushed();
  }

  private onChunk(entry: Attached, chunk: Buffer): void {
    const max = this.maxLineBytes;
    const size = chunk.length;
    let parts: Buffer[] | undefined;
    let copied = 0; // chunk bytes before this offset are already in parts
    let scan = 0; // start of the current line's bytes in this chunk
    let lineBytes = entry.pendingBytes;
    let linesEnd = -1; // offset just past the last newline or split point

    while (scan < size) {
      const limit = scan + (max - lineBytes); // a newline at limit ends a line of exactly max bytes
      const newline = chunk.lastIndexOf(NEWLINE, Math.min(limit, size - 1));
      if (newline >= scan) {
        // Every line up to this newline is short enough: the next line starts after it.
        scan = newline + 1;
        lineBytes = 0;
        linesEnd = scan;
        continue;
      }
      if (limit >= size) {
        lineBytes += size - scan;
        break;
      }
      const cut = utf8Boundary(chunk, limit, scan);
      parts ??= [...entry.pending];
      parts.push(chunk.subarray(copied, cut), MARKER_LINE_END);
      copied = cut;
      scan = cut;
      lineBytes = 0;
      linesEnd = cut;
    }

    if (linesEnd < 0) {
      entry.pending.push(chunk);
      entry.pendingBytes = lineBytes;
      return;
    }
    let block: Buffer;
    if (!parts && entry.pending.length === 0) {
      block = chunk.subarray(0, linesEnd);
    } else {
      parts ??= [...entry.pending];
      parts.push(chunk.subarray(copied, linesEnd));
      block = Buffer.concat(parts);
    }
    entry.pending = linesEnd < size ? [chunk.subarray(linesEnd)] : [];
    entry.pendingBytes = lineBytes;
    this.emit(block, entry.source);
  }

  /** block: whole lines, each ending in a newline. */
  private emit(block: Buffer, source: LogSource): void {
    this.observe(block, source);
    const data = this.transform ? this.transformLines(block, source, this.transform) : block;
    if (!this.sink.write(data) && !this.paused) {
      this.paused = true;
      for (const entry of this.attached) if (!entry.done) entry.stream.pause();
    }
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const entry of this.attached) if (!entry.done) entry.stream.resume();
  }

  private transformLines(block: Buffer, source: LogSource, transform: NonNullable<LogRelayOptions['transform']>): Buffer {
    const out: Buffer[] = [];
    for (let start = 0; start < block.length; ) {
      const newline = block.indexOf(NEWLINE, start);
      const line = block.subarray(start, newline);
      let rewritten: Buffer | string;
      try {
        rewritten = transform(line, source);
      } catch {
        rewritten = line;
      }
      out.push(typeof rewritten === 'string' ? Buffer.from(rewritten) : rewritten, NEWLINE_BUFFER);
      start = newline + 1;
    }
    return Buffer.concat(out);
  }

  /** Updates tail and error lines from the end of a block, without walking every line. */
  private observe(block: Buffer, source: LogSource): void {
    const lines: string[] = [];
    let end = block.length - 1;
    while (lines.length < this.tailLines && end >= 0) {
      const start = lineStart(block, end);
      lines.push(block.toString('utf8', start, end));
      end = start - 1;
    }
    this.recent.push(...lines.reverse());
    if (this.recent.length > this.tailLines) this.recent.splice(0, this.recent.length - this.tailLines);

    let levelAt = -1;
    for (const level of ERROR_LEVELS) levelAt = Math.max(levelAt, block.lastIndexOf(level));
    if (levelAt >= 0) {
      const start = lineStart(block, levelAt);
      this.lastLevelError = block.toString('utf8', start, block.indexOf(NEWLINE, levelAt)).trimEnd();
    }

    if (source === 'stderr') {
      for (let end = block.length - 1; end >= 0; ) {
        const start = lineStart(block, end);
        const line = block.toString('utf8', start, end).trimEnd();
        if (line.trim() !== '') {
          this.lastStderr = line;
          break;
        }
        end = start - 1;
      }
    }
  }

  private onOutputError(err: Error, permanently: boolean): void {
    this.errors += 1;
    if (this.errors === 1) {
      this.logger?.warn(
        permanently ? "cannot write Envoy's output; discarding it from now on" : "cannot write Envoy's output; some lines were lost",
        { err: (err as NodeJS.ErrnoException).code ?? err.message },
      );
    }
  }
}

/** Offset of the first byte of the line whose newline (or end) is at `end`. */
function lineStart(block: Buffer, end: number): number {
  // lastIndexOf with a negative offset would search from the end of the buffer.
  return end === 0 ? 0 : block.lastIndexOf(NEWLINE, end - 1) + 1;
}

/** Moves a split point back off UTF-8 continuation bytes so no character is cut in two. */
function utf8Boundary(chunk: Buffer, at: number, floor: number): number {
  let cut = at;
  while (cut > floor && cut > at - 3 && (chunk[cut]! & 0xc0) === 0x80) cut -= 1;
  return cut;
}
