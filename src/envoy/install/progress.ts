import cliProgress from 'cli-progress';
import type { Logger } from '../../logging/logger.js';
import type { Progress } from './http.js';

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export interface ProgressReporter extends Progress {
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  logger: Logger;
  stream?: NodeJS.WriteStream;
  /** Period of the plain lines written when the stream is not a terminal. */
  intervalMs?: number;
}

/**
 * A bar with bytes, total and speed when stderr is a terminal (and logging is on), plain periodic
 * log lines otherwise, so CI logs and journald get a few lines instead of carriage returns.
 */
export function createProgress({ label, logger, stream = process.stderr, intervalMs = 5000 }: ProgressOptions): ProgressReporter {
  let received = 0;
  let total: number | undefined;
  let startedAt = Date.now();
  const speed = (): string => `${formatBytes(Math.round((received * 1000) / Math.max(1, Date.now() - startedAt)))}/s`;
  const payload = () => ({ received: formatBytes(received), size: total === undefined ? '?' : formatBytes(total), speed: speed() });

  if (stream.isTTY && logger.level !== 'off') {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {received} / {size} | {speed}`,
        stream,
        hideCursor: true,
        clearOnComplete: true,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    let running = false;
    return {
      start(size) {
        received = 0;
        total = size;
        startedAt = Date.now();
        if (running) bar.stop();
        bar.start(size ?? 0, 0, payload());
        running = true;
      },
      advance(bytes) {
        received += bytes;
        bar.update(Math.min(received, total ?? received), payload());
      },
      stop() {
        if (running) bar.stop();
        running = false;
      },
    };
  }

  let lastLine = Date.now();
  return {
    start(size) {
      received = 0;
      total = size;
      startedAt = lastLine = Date.now();
    },
    advance(bytes) {
      received += bytes;
      if (Date.now() - lastLine < intervalMs) return;
      lastLine = Date.now();
      const percent = total ? ` (${Math.floor((received * 100) / total)}%)` : '';
      logger.info(`${label}: ${payload().received} of ${payload().size}${percent} at ${speed()}`);
    },
    stop() {},
  };
}
