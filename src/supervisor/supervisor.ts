import type { Readable } from 'node:stream';
import type { Logger } from '../logging/logger.js';
import { formatDuration } from '../config/duration.js';
import type { EnvoyProcess } from '../envoy/launch.js';
import { RestartBackoff, type BackoffSettings } from './backoff.js';
import { drainEnvoy, type DrainAdmin } from './drain.js';
import { describeEnvoyEnd, exitCodeForEnvoyEnd, signalNumber } from './exit-status.js';
import { isFailure, policyWantsRestart, type EnvoyEnd, type RestartPolicy } from './restart-policy.js';
import type { ReadinessAnswer } from '../readiness/server.js';

/**
 * The named states of one kuma-dp run. Envoy is alive in `starting`, `live`, `draining` and
 * `stopping`; absent in `backoff` (waiting to restart) and `stopped` (final).
 */
export type SupervisorState = 'idle' | 'starting' | 'live' | 'backoff' | 'draining' | 'stopping' | 'stopped';


export interface SupervisorAdmin extends DrainAdmin {
  ready(): Promise<ReadinessAnswer>;
}

export interface EnvoyOutputSink {
  attach(stream: Readable, source: 'stdout' | 'stderr'): void;
  tail(): string[];
  lastErrorLine(): string | undefined;
  startRun(): void;
}

export interface SupervisorOptions {
  logger: Logger;
  launch: () => Promise<EnvoyProcess>;
  output: EnvoyOutputSink;
  admin: SupervisorAdmin | undefined;
  /** /drain_listeners query for this Envoy (version dependent); undefined skips the call. */
  drainQuery: string | undefined;
  restartPolicy: RestartPolicy;
  backoff: BackoffSettings;
  minDrainMs: number;
  maxDrainMs: number;
  drainPollMs: number;
  /** Grace between SIGTERM and SIGKILL (kuma-dp's WaitDelay). */
  killGraceMs: number;
  notify: (fields: Record<string, string>) => void;
  watchdogIntervalMs: number | undefined;
  /** Called with each new Envoy pid (pid file), and with undefined when it is gone. */
  onEnvoyPid?: (pid: number | undefined) => void | Promise<void>;
  oomKillCount?: () => number | undefined;
  now?: () => number;
  random?: () => number;
}

export interface SupervisorResult {
  exitCode: number;
  /** The one line printed on stderr before a non-zero exit. */
  message?: string;
  /** The third signal: the caller exits at once, without cleanup beyond the essentials. */
  forced?: boolean;
}

/**
 * Envoy's crash handler opens its backtrace with `Caught Segmentation fault, suspect faulting
 * address ...`: on a signal that line says more than the last one (a stack frame).
 */
function crashLine(tail: readonly string[]): string | undefined {
  return tail.findLast((line) => /\] Caught [A-Z]/.test(line));
}

const STARTING_POLL_MS = 100;
const LIVE_POLL_MS = 1000;
/** A tiny WATCHDOG_USEC must not turn the live poll into a stream of admin calls. */
const MIN_LIVE_POLL_MS = 50;
const EXTEND_EVERY_MS = 5000;

export class Supervisor {
  private stateValue: SupervisorState = 'idle';
  private envoy: EnvoyProcess | undefined;
  private readonly backoff: RestartBackoff;
  private restarts = 0;
  private configErrorRetried = false;
  private everReady = false;
  private liveThisRun = false;
  private readySince: number | undefined;
  private lastAdminAnswerAt = 0;
  private terminating = false;
  private drainedForever = false;
  private shutdownSignals = 0;
  private readonly cutShort = new AbortController();
  private timers = new Set<NodeJS.Timeout>();
  private oomBefore: number | undefined;
  private finish!: (result: SupervisorResult) => void;
  private readonly result: Promise<SupervisorResult>;
  private readonly now: () => number;

  constructor(private readonly options: SupervisorOptions) {
    this.backoff = new RestartBackoff(options.backoff);
    this.now = options.now ?? Date.now;
    this.result = new Promise((resolve) => (this.finish = resolve));
  }

  get state(): SupervisorState {
    return this.stateValue;
  }

  /** Starts Envoy and resolves with kuma-dp's exit once supervision is over. */
  run(): Promise<SupervisorResult> {
    // A shutdown signal that arrived before run() has already settled the result: start nothing.
    if (this.stateValue === 'stopped') return this.result;
    void this.startEnvoy();
    const watchdog = this.options.watchdogIntervalMs;
    if (watchdog) this.every(watchdog, () => this.feedWatchdog(watchdog));
    return this.result;
  }

  /** What the readiness reporter answers on /ready. */
  async readiness(): Promise<ReadinessAnswer> {
    if (this.terminating) return { status: 503, body: 'TERMINATING' };
    if ((this.stateValue === 'starting' || this.stateValue === 'live') && this.options.admin) {
      return this.options.admin.ready();
    }
    if (this.stateValue === 'live') return { status: 200, body: 'READY' };
    return { status: 503, body: 'envoy not ready' };
  }

  handleSignal(signal: NodeJS.Signals): void {
    const log = this.options.logger;
    switch (signal) {
      case 'SIGTERM':
      case 'SIGINT':
        this.shutdownSignals += 1;
        if (this.shutdownSignals === 1) {
          log.info('received signal, stopping instance gracefully', { signal });
          void this.beginShutdown();
        } else if (this.shutdownSignals === 2) {
          log.info('received second signal, skipping the rest of the drain', { signal });
          this.cutShort.abort();
        } else {
          log.warn('received third signal, force exit', { signal });
          this.envoy?.signal('SIGKILL');
          this.complete({ exitCode: 128 + signalNumber(signal), forced: true, message: `forced exit on a third ${signal}; Envoy was killed without draining` });
        }
        return;
      case 'SIGUSR2':
        void this.drainForever();
        return;
      case 'SIGUSR1':
        log.info('forwarding SIGUSR1 to Envoy (reopen log files)');
        this.envoy?.signal('SIGUSR1');
        return;
      case 'SIGHUP':
        log.info('ignoring SIGHUP: kuma-dp does not hot-restart Envoy; send SIGUSR1 to reopen Envoy log files');
        return;
      default:
        log.debug('ignoring signal', { signal });
    }
  }

  /** Moves to `to` and tells systemd, with `extra` fields (READY=1, STOPPING=1) in the same message. */
  private transition(to: SupervisorState, fields: Record<string, unknown> = {}, extra: Record<string, string> = {}): void {
    const from = this.stateValue;
    if (from === to) return;
    this.stateValue = to;
    this.options.logger.debug('supervisor state', { from, to, ...fields });
    const pid = this.envoy?.pid;
    const status = {
      idle: 'not started',
      starting: `Envoy starting (pid ${pid})`,
      live: `Envoy live (pid ${pid})`,
      backoff: `Envoy ${String(fields.how)}, restarting in ${String(fields.delay)}`,
      draining: `draining Envoy (pid ${pid})`,
      stopping: `stopping Envoy (pid ${pid})`,
      stopped: 'stopped',
    }[to];
    this.options.notify({ ...extra, STATUS: `${status}; restarts ${this.restarts}` });
  }

  private async startEnvoy(): Promise<void> {
    this.liveThisRun = false;
    this.readySince = undefined;
    this.oomBefore = this.options.oomKillCount?.();
    let envoy: EnvoyProcess;
    try {
      envoy = await this.options.launch();
    } catch (err) {
      this.complete({ exitCode: 1, message: `could not start Envoy: ${(err as Error).message}` });
      return;
    }
    if (this.stateValue === 'stopped') {
      // A forced exit or a shutdown won the race with the launch: never leave this one behind.
      envoy.signal('SIGKILL');
      return;
    }
    this.envoy = envoy;
    this.drainedForever = false;
    this.options.output.startRun();
    this.options.output.attach(envoy.stdout, 'stdout');
    this.options.output.attach(envoy.stderr, 'stderr');
    // The state changes before any await: a signal from here on finds Envoy to drain.
    this.transition('starting', { pid: envoy.pid });
    this.options.logger.info('Envoy started', { pid: envoy.pid, restarts: this.restarts });
    this.pollReadiness(envoy);
    await this.recordPid(envoy.pid);
    const end = await envoy.ended;
    // No await between Envoy's end and the decision: a signal arriving now must find a settled state.
    this.envoy = undefined;
    this.onEnvoyEnded(end);
    await this.recordPid(undefined);
  }

  /** The pid file only helps a later kuma-dp; failing to write it must not stop supervision. */
  private async recordPid(pid: number | undefined): Promise<void> {
    try {
      await this.options.onEnvoyPid?.(pid);
    } catch (err) {
      this.options.logger.warn('could not update the Envoy pid file', { error: (err as Error).message });
    }
  }

  private pollReadiness(envoy: EnvoyProcess): void {
    const admin = this.options.admin;
    if (!admin) {
      this.options.logger.warn('the bootstrap has no admin address: Envoy readiness cannot be watched; treating it as live');
      this.becameLive();
      return;
    }
    const tick = async () => {
      if (this.envoy !== envoy || this.stateValue === 'stopped') return;
      try {
        const answer = await admin.ready();
        this.lastAdminAnswerAt = this.now();
        if (answer.status === 200) {
          if (this.stateValue === 'starting') this.becameLive();
          this.readySince ??= this.now();
          this.backoff.observeReady(this.now() - this.readySince);
        } else {
          this.readySince = undefined;
        }
      } catch {
        this.readySince = undefined;
      }
      if (this.envoy === envoy) this.schedule(this.stateValue === 'starting' ? STARTING_POLL_MS : this.livePollMs(), tick);
    };
    this.schedule(0, tick);
  }

  private becameLive(): void {
    this.liveThisRun = true;
    // "Twice in a row": a config error after a live run gets its one retry again.
    this.configErrorRetried = false;
    const first = !this.everReady;
    this.everReady = true;
    this.transition('live', {}, first ? { READY: '1' } : {});
    this.options.logger.info('Envoy is live', { pid: this.envoy?.pid });
  }

  /** Often enough that every watchdog ping has a fresh admin answer to go by, but never a busy loop. */
  private livePollMs(): number {
    return Math.max(MIN_LIVE_POLL_MS, Math.min(LIVE_POLL_MS, this.options.watchdogIntervalMs ?? LIVE_POLL_MS));
  }

  private feedWatchdog(intervalMs: number): void {
    // Without an admin address a running Envoy is all there is to know.
    const answeredRecently = !this.options.admin || this.now() - this.lastAdminAnswerAt <= 2 * intervalMs;
    // Waiting to restart, draining and stopping are kuma-dp doing its job, not a hang.
    const busy = this.stateValue === 'backoff' || this.stateValue === 'draining' || this.stateValue === 'stopping';
    if (busy || (this.envoy && answeredRecently)) {
      this.options.notify({ WATCHDOG: '1' });
    }
  }

  private onEnvoyEnded(end: EnvoyEnd): void {
    const log = this.options.logger;
    if (this.stateValue === 'stopped') return;
    if (this.stateValue === 'draining' || this.stateValue === 'stopping' || this.terminating) {
      log.info('Envoy terminated', { how: describeEnvoyEnd(end) });
      this.complete({ exitCode: 0 });
      return;
    }
    const how = describeEnvoyEnd(end);
    const fields: Record<string, unknown> = { how };
    const oomAfter = this.options.oomKillCount?.();
    if (oomAfter !== undefined && this.oomBefore !== undefined && oomAfter > this.oomBefore) {
      fields.hint = `the cgroup OOM killer fired (oom_kill ${this.oomBefore} -> ${oomAfter}): Envoy probably ran out of memory; raise the memory limit`;
    }
    if (isFailure(end)) fields.lastLines = this.options.output.tail().slice(-5);

    const configError = end.code === 1 && !this.liveThisRun;
    const reason = (end.signal ? crashLine(this.options.output.tail()) : undefined) ?? this.options.output.lastErrorLine();
    if (configError && (this.options.restartPolicy === 'never' || this.configErrorRetried)) {
      log.error('Envoy exited before it became live: its configuration or environment is broken', fields);
      this.complete({ exitCode: 1, message: `Envoy exited with code 1 before it became live${reason ? `: ${reason}` : ''}` });
      return;
    }
    const now = this.now();
    const wantsRestart = configError || policyWantsRestart(this.options.restartPolicy, end);
    if (!wantsRestart) {
      const code = exitCodeForEnvoyEnd(end);
      if (code === 0) log.info('Envoy terminated successfully');
      else log.error('Envoy terminated with an error; not restarting', { ...fields, restartPolicy: this.options.restartPolicy });
      this.complete(code === 0 ? { exitCode: 0 } : { exitCode: code, message: `Envoy ${how}${reason ? `: ${reason}` : ''}` });
      return;
    }
    if (!this.backoff.budgetLeft(now)) {
      const code = exitCodeForEnvoyEnd(end);
      const budget = `${this.options.backoff.maxRestarts} restarts within ${formatDuration(this.options.backoff.windowMs)}`;
      log.error('Envoy keeps exiting; restart budget used up', { ...fields, budget });
      this.complete({ exitCode: code, message: `Envoy ${how} and the restart budget (${budget}) is used up${reason ? `; last error: ${reason}` : ''}` });
      return;
    }
    if (configError) this.configErrorRetried = true;
    const delay = this.backoff.next(now, this.options.random);
    this.restarts += 1;
    log.warn('Envoy ended; restarting', {
      ...fields,
      delay: formatDuration(delay),
      restart: this.restarts,
      inWindow: `${this.backoff.restartsInWindow(now)}/${this.options.backoff.maxRestarts}`,
    });
    this.transition('backoff', { how, delay: formatDuration(delay) });
    this.schedule(delay, () => void this.startEnvoy());
  }

  private async beginShutdown(): Promise<void> {
    this.terminating = true;
    const state = this.stateValue;
    if (state === 'backoff' || state === 'idle') {
      // complete() clears every timer, the pending restart's included.
      this.complete({ exitCode: 0 });
      return;
    }
    const envoy = this.envoy;
    if ((state !== 'starting' && state !== 'live') || !envoy) return;
    if (this.drainedForever) {
      this.options.logger.info('already drained, stopping Envoy without waiting again');
      this.options.notify({ STOPPING: '1' });
      await this.stopEnvoy();
      return;
    }
    this.transition('draining', {}, { STOPPING: '1' });
    const drainStarted = this.now();
    this.extendStopTimeout(drainStarted);
    const extender = this.every(EXTEND_EVERY_MS, () => this.extendStopTimeout(drainStarted));
    const outcome = await drainEnvoy({
      admin: this.options.admin,
      drainQuery: this.options.drainQuery,
      minDrainMs: this.options.minDrainMs,
      maxDrainMs: this.options.maxDrainMs,
      pollIntervalMs: this.options.drainPollMs,
      cutShort: this.cutShort.signal,
      envoyEnded: envoy.ended,
      logger: this.options.logger,
      now: this.now,
    });
    this.cancel(extender);
    this.options.logger.info('drain finished', { outcome, after: formatDuration(this.now() - drainStarted) });
    await this.stopEnvoy();
  }

  /** systemd would SIGKILL us mid-drain at TimeoutStopSec; ask for the time the drain still needs. */
  private extendStopTimeout(drainStarted: number): void {
    const remaining = Math.max(0, this.options.maxDrainMs - (this.now() - drainStarted)) + this.options.killGraceMs + EXTEND_EVERY_MS;
    this.options.notify({ EXTEND_TIMEOUT_USEC: String(Math.round(remaining * 1000)) });
  }

  private async stopEnvoy(): Promise<void> {
    const envoy = this.envoy;
    if (!envoy || this.stateValue === 'stopped') return;
    this.transition('stopping');
    envoy.signal('SIGTERM');
    const kill = this.schedule(this.options.killGraceMs, () => {
      this.options.logger.warn('Envoy did not exit after SIGTERM; killing it', { grace: formatDuration(this.options.killGraceMs) });
      envoy.signal('SIGKILL');
    });
    await envoy.ended;
    this.cancel(kill);
  }

  private async drainForever(): Promise<void> {
    const log = this.options.logger;
    if (this.drainedForever || this.terminating) return;
    if (!this.options.admin || !this.options.drainQuery) {
      log.warn('SIGUSR2 ignored: this Envoy cannot drain inbound listeners without exiting');
      return;
    }
    log.info('draining Envoy connections', { query: this.options.drainQuery });
    const envoy = this.envoy;
    try {
      await this.options.admin.drainListeners(this.options.drainQuery);
      // Only a drain that happened, of the Envoy still running, lets a later SIGTERM skip the wait.
      if (this.envoy === envoy) this.drainedForever = true;
    } catch (err) {
      log.warn('could not drain Envoy listeners; a later SIGTERM will drain as usual', { error: (err as Error).message });
    }
  }

  private complete(result: SupervisorResult): void {
    if (this.stateValue === 'stopped') return;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.transition('stopped', { exitCode: result.exitCode });
    this.finish(result);
  }

  /** Stops a timer from schedule() or every() (clearTimeout clears intervals too). */
  private cancel(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  private schedule(ms: number, fn: () => void | Promise<void>): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  private every(ms: number, fn: () => void): NodeJS.Timeout {
    const timer = setInterval(fn, ms);
    this.timers.add(timer);
    return timer;
  }
}
