import { execFile } from 'node:child_process';
import type { Logger } from '../logging/logger.js';

export interface Notifier {
  /** NOTIFY_SOCKET is set and systemd-notify has not been found missing. */
  readonly enabled: boolean;
  /** How often to send WATCHDOG=1 (half of WATCHDOG_USEC), when the watchdog is meant for us. */
  readonly watchdogIntervalMs: number | undefined;
  /**
   * Sends one message (fields in the given order); messages arrive in call order. Failures are
   * logged, never rejected; an invalid field name throws a TypeError at once (a programming error).
   */
  notify(fields: Record<string, string>): Promise<void>;
}

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  /** The systemd-notify executable, looked up on env.PATH unless a path. */
  binary?: string;
  pid?: number;
}

/** systemd's watchdog deadline halved, as sd_watchdog_enabled(3) recommends; undefined when it is off or for another pid. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

const KEY = /^[A-Z][A-Z0-9_]*$/;

/** `KEY=VALUE` arguments; a newline inside a value would start a forged field, so it becomes a space. */
export function notifyArguments(fields: Record<string, string>): string[] {
  return Object.entries(fields).map(([key, value]) => {
    if (!KEY.test(key)) throw new TypeError(`invalid sd_notify field name "${key}"`);
    return `${key}=${value.replace(/[\r\n]+/g, ' ')}`;
  });
}

/** A safety net above systemd-notify's own 5 s barrier timeout. */
const SEND_TIMEOUT_MS = 10_000;

/**
 * sd_notify(3) through the systemd-notify binary, because Node has no AF_UNIX datagram sockets.
 *
 * Why these flags and this queue:
 * - One systemd-notify at a time, the next spawned only after the previous exited: its datagram is
 *   then already queued on NOTIFY_SOCKET, so READY=1, STATUS=, STOPPING=1 arrive in call order.
 * - No `--no-block`: systemd-notify then waits on sd_notify_barrier until systemd has processed the
 *   message. Without it, systemd may read the datagram after systemd-notify exited and fail to
 *   attribute the sender to our unit (the race systemd-notify(1) warns about). The barrier gives up
 *   after 5 s, so a stuck manager costs a delay, never a hang; SEND_TIMEOUT_MS backs that up.
 * - `--pid=<our pid>` adds MAINPID=<us> and asks to send with our pid as credentials. Only a
 *   privileged sender may claim another pid; otherwise the datagram carries systemd-notify's own
 *   pid, so the unit needs `NotifyAccess=all`.
 * - Abstract sockets (`@name`) need nothing here: systemd-notify resolves NOTIFY_SOCKET itself.
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const env = options.env ?? process.env;
  const { logger } = options;
  const binary = options.binary ?? 'systemd-notify';
  const pid = options.pid ?? process.pid;
  let available = Boolean(env.NOTIFY_SOCKET);
  let failures = 0;
  let queue: Promise<void> = Promise.resolve();

  function send(args: string[]): Promise<void> {
    return new Promise((resolve) => {
      execFile(binary, [`--pid=${pid}`, ...args], { env, timeout: SEND_TIMEOUT_MS, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
            if (available) logger.warn('systemd-notify not found; systemd notifications are off', { binary });
            available = false;
          } else {
            failures += 1;
            const reason = String(stderr).trim() || err.message;
            if (failures === 1) logger.warn('systemd notification failed', { message: args.join(' '), err: reason });
            else logger.debug('systemd notification failed', { message: args.join(' '), err: reason });
          }
        }
        resolve();
      });
    });
  }

  return {
    get enabled() {
      return available;
    },
    watchdogIntervalMs: env.NOTIFY_SOCKET ? watchdogIntervalMs(env, pid) : undefined,
    notify(fields) {
      const args = notifyArguments(fields);
      queue = queue.then(() => (available ? send(args) : undefined));
      return queue;
    },
  };
}
