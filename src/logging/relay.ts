import type { Readable, Writable } from 'node:stream';
import type { Logger } from './logger.js';

export type LogSource = 'stdout' | 'stderr';

/**
 * Appended to every piece of a split over-long line except the last, so a reader sees that the
 * line was cut (and where) instead of several unrelated-looking lines. A piece holds at most
 * maxLineBytes of the original line (fewer when the cut is moved off a UTF-8 character), then
 * this marker, then a newline.
 */
export const LINE_CONTINUES_MARKER = ' [kuma-dp: line continues]';

export type LineTransform = (line: Buffer, source: LogSource) => Buffer | string;

export interface LogRelayOptions {
  /** Where the lines go; default process.stdout. */
  out?: Writable;
  /** Longest piece of a line written as one line, newline excluded; at least 16. */
  maxLineBytes?: number;
  /** How many recent lines tail() keeps. */
  tailLines?: number;
  /**
   * Rewrites each line, given without its newline (the relay appends one). Without it, chunks are
   * copied through untouched.
   */
  transform?: LineTransform;
  /** Told once when the output fails and Envoy's output starts being lost. */
  logger?: Logger;
  /**
   * Called after every collectEveryBytes read (default 1 MiB): the read buffers become garbage at
   * once, and a collection keeps them from piling up (platform/gc.ts).
   */
  collectGarbage?: () => void;
  collectEveryBytes?: number;
}

const NEWLINE = 0x0a;
const NEWLINE_BUFFER = Buffer.from('\n');
const MARKER_LINE_END = Buffer.from(`${LINE_CONTINUES_MARKER}\n`);
const ERROR_LEVELS = [Buffer.from('[error]'), Buffer.from('[critical]')];

interface Sink {
  /**
   * Hands the buffers, whole lines only, to the output in one go (one writev for a stream that has
   * one: pipes and sockets); false asks the caller to pause until the drain event.
   */
  write(blocks: Buffer[]): boolean;
  /** Resolves when everything written so far has reached the OS or was discarded. */
  flushed(): Promise<void>;
}

interface SinkEvents {
  drain(): void;
  /** The output failed: nothing more will be written to it. */
  failed(err: Error): void;
  /** Bytes that did not reach the output. */
  discarded(bytes: number): void;
}

function byteLength(blocks: Buffer[]): number {
  let total = 0;
  for (const block of blocks) total += block.length;
  return total;
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

  write(blocks: Buffer[]): boolean {
    if (!this.broken && (this.out.destroyed || this.out.writableEnded)) this.fail(new Error('output stream is closed'));
    if (this.broken) {
      this.events.discarded(byteLength(blocks));
      return true;
    }
    // Corked writes reach a stream with _writev (pipes, sockets) as one batch; stdout as a file
    // (Node's SyncWriteStream) takes them one writeSync each.
    if (blocks.length > 1) this.out.cork();
    let more = true;
    for (const block of blocks) {
      this.inflight += 1;
      more = this.out.write(block, (err) => {
        this.inflight -= 1;
        if (err) {
          this.events.discarded(block.length);
          this.fail(err);
        }
        if (this.inflight === 0) this.wake();
      });
    }
    if (blocks.length > 1) this.out.uncork();
    return more;
  }

  flushed(): Promise<void> {
    if (this.inflight === 0 || this.broken) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** A stream that failed once is destroyed: report it once, then discard. */
  private fail(err: Error): void {
    if (this.broken) return;
    this.broken = true;
    this.events.failed(err);
    // Nothing will drain any more: let the sources flow again so Envoy never blocks on its pipes.
    this.events.drain();
    this.wake();
  }

  private wake(): void {
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
 * the two sources never interleave inside a line. Without a transform a chunk is passed on up to
 * its last newline without being copied or cut into lines; over-long lines are found by jumping
 * maxLineBytes at a time. Output failures are counted and swallowed while the sources keep being
 * read, so a closed stdout neither blocks Envoy nor stops supervision.
 */
export class LogRelay {
  private readonly sink: Sink;
  private readonly maxLineBytes: number;
  private readonly tailLines: number;
  private readonly transform: LineTransform | undefined;
  private readonly logger: Logger | undefined;
  private readonly attached: Attached[] = [];
  /** Newest last; each holds whole lines (copies of the last tailLines lines of a block). */
  private readonly recentBlocks: Buffer[] = [];
  private lastLevelError: string | undefined;
  private lastStderr: string | undefined;
  private paused = false;
  private errors = 0;
  private discarded = 0;
  private readonly collectGarbage: (() => void) | undefined;
  private readonly collectEveryBytes: number;
  private readSinceCollection = 0;

  constructor(options: LogRelayOptions = {}) {
    this.maxLineBytes = options.maxLineBytes ?? 65_536;
    if (!Number.isInteger(this.maxLineBytes) || this.maxLineBytes < 16) {
      throw new RangeError(`maxLineBytes must be an integer of at least 16, got ${this.maxLineBytes}`);
    }
    this.tailLines = options.tailLines ?? 20;
    this.transform = options.transform;
    this.logger = options.logger;
    this.collectGarbage = options.collectGarbage;
    this.collectEveryBytes = options.collectEveryBytes ?? 1024 * 1024;
    const events: SinkEvents = {
      drain: () => this.resume(),
      failed: (err) => this.onOutputError(err),
      discarded: (bytes) => {
        this.discarded += bytes;
      },
    };
    this.sink = new StreamSink(options.out ?? process.stdout, events);
  }

  /** Output errors seen (a failed stream counts once). */
  get writeErrors(): number {
    return this.errors;
  }

  /** Bytes that never reached the output because of those errors. */
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
    // Streams of Envoys that ended are dropped, so restarts do not accumulate them.
    for (let i = this.attached.length - 1; i >= 0; i -= 1) if (this.attached[i]!.done) this.attached.splice(i, 1);
    this.attached.push(entry);
    const end = (): void => {
      if (entry.done) return;
      entry.done = true;
      if (entry.pendingBytes > 0) {
        const line = Buffer.concat([...entry.pending, NEWLINE_BUFFER]);
        entry.pending = [];
        entry.pendingBytes = 0;
        this.emit([line], source);
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
    const lines: string[] = [];
    for (let index = this.recentBlocks.length - 1; index >= 0 && lines.length < this.tailLines; index -= 1) {
      const block = this.recentBlocks[index]!;
      for (let end = block.length - 1; end >= 0 && lines.length < this.tailLines; ) {
        const start = lineStart(block, end);
        lines.push(block.toString('utf8', start, end));
        end = start - 1;
      }
    }
    return lines.reverse();
  }

  /**
   * Forgets the error line of an earlier Envoy run, so a restarted Envoy's end is never explained
   * by its predecessor's last words. The tail is kept: it shows what led up to a crash loop.
   */
  startRun(): void {
    this.lastLevelError = undefined;
    this.lastStderr = undefined;
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

  /** Cuts the chunk into blocks of whole lines (zero-copy except around pending data and splits). */
  private onChunk(entry: Attached, chunk: Buffer): void {
    const max = this.maxLineBytes;
    const size = chunk.length;
    this.readSinceCollection += size;
    if (this.collectGarbage && this.readSinceCollection >= this.collectEveryBytes) {
      this.readSinceCollection = 0;
      this.collectGarbage();
    }
    const blocks: Buffer[] = [];
    let scan = 0; // a line starts here

    if (entry.pendingBytes > 0) {
      const room = max - entry.pendingBytes;
      const newline = chunk.indexOf(NEWLINE);
      if (newline !== -1 && newline <= room) {
        scan = newline + 1;
        blocks.push(Buffer.concat([...entry.pending, chunk.subarray(0, scan)]));
      } else if (size <= room) {
        entry.pending.push(chunk);
        entry.pendingBytes += size;
        return;
      } else {
        scan = utf8Boundary(chunk, room, 0);
        blocks.push(Buffer.concat([...entry.pending, chunk.subarray(0, scan), MARKER_LINE_END]));
      }
      entry.pending = [];
      entry.pendingBytes = 0;
    }

    let from = scan; // start of whole lines not yet in blocks
    while (scan < size) {
      const limit = scan + max; // a newline at limit ends a line of exactly max bytes
      const newline = chunk.lastIndexOf(NEWLINE, Math.min(limit, size - 1));
      if (newline >= scan) {
        // Every line up to this newline is short enough: continue after it.
        scan = newline + 1;
      } else if (limit >= size) {
        break;
      } else {
        const cut = utf8Boundary(chunk, limit, scan);
        if (scan > from) blocks.push(chunk.subarray(from, scan));
        blocks.push(Buffer.concat([chunk.subarray(scan, cut), MARKER_LINE_END]));
        scan = cut;
        from = cut;
      }
    }
    if (scan > from) blocks.push(chunk.subarray(from, scan));
    if (scan < size) {
      entry.pending = [chunk.subarray(scan)];
      entry.pendingBytes = size - scan;
    }
    if (blocks.length > 0) this.emit(blocks, entry.source);
  }

  /** blocks: whole lines, each ending in a newline. */
  private emit(blocks: Buffer[], source: LogSource): void {
    for (const block of blocks) this.observe(block, source);
    const transform = this.transform;
    const data = transform ? blocks.map((block) => transformLines(block, source, transform)) : blocks;
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

  /**
   * Keeps what tail() and lastErrorLine() need without walking every line: the last tailLines
   * lines of the block (the last tailLines blocks hold at least the last tailLines lines), one
   * forward search per error level, and the last non-empty stderr line.
   */
  private observe(block: Buffer, source: LogSource): void {
    this.recentBlocks.push(lastLinesCopy(block, this.tailLines));
    if (this.recentBlocks.length > this.tailLines) this.recentBlocks.shift();

    let levelAt = -1;
    for (const level of ERROR_LEVELS) levelAt = Math.max(levelAt, lastMatch(block, level));
    if (levelAt >= 0) {
      this.lastLevelError = block.toString('utf8', lineStart(block, levelAt), block.indexOf(NEWLINE, levelAt)).trimEnd();
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

  private onOutputError(err: Error): void {
    this.errors += 1;
    if (this.errors === 1) this.logger?.warn("cannot write Envoy's output; discarding it from now on", { err: (err as NodeJS.ErrnoException).code ?? err.message });
  }
}

/** Each line of a whole-lines block through the transform; a transform that throws leaves its line as is. */
function transformLines(block: Buffer, source: LogSource, transform: LineTransform): Buffer {
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

/** Offset of the last occurrence, by forward searches (about twice as fast as Buffer#lastIndexOf on Node 20). */
function lastMatch(block: Buffer, needle: Buffer): number {
  let found = block.indexOf(needle);
  for (let next = found; next >= 0; next = block.indexOf(needle, next + 1)) found = next;
  return found;
}

/**
 * The block's last `count` lines, copied: a view would keep the whole 64 KiB read buffer it is
 * part of alive, and past a young-generation collection (LogRelayOptions.collectGarbage) in the
 * old generation, which only a full collection frees.
 */
function lastLinesCopy(block: Buffer, count: number): Buffer {
  let start = block.length;
  for (let lines = 0; lines < count && start > 0; lines += 1) start = lineStart(block, start - 1);
  return Buffer.from(block.subarray(start));
}

/** Offset of the first byte of the line whose newline is at `end`. */
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
