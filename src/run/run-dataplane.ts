import { rmSync } from 'node:fs';
import { KumaDpError, ExitCode } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { formatDuration } from '../config/duration.js';
import { writeBootstrapFile } from '../bootstrap/file.js';
import { BootstrapAborted } from '../bootstrap/remote/client.js';
import { AdminClient, adminAddressFromBootstrap, describeAdminAddress, drainQuery } from '../envoy/admin.js';
import { buildEnvoyArgs } from '../envoy/args.js';
import { launchEnvoy, loadExeca } from '../envoy/launch.js';
import { LogRelay } from '../logging/relay.js';
import { collectYoungGarbage, quietCollector } from '../platform/gc.js';
import { tuneV8ForSupervision } from '../platform/v8-tuning.js';
import { envoyLineTransform } from '../logging/envoy-lines.js';
import { assertPortFree, startReadinessServer, readinessHost, readinessProbeHost, type ReadinessServer } from '../readiness/server.js';
import { createNotifier } from '../platform/systemd.js';
import { deathSignalWrapper, type DeathSignalWrapper } from '../platform/pdeathsig.js';
import { findStaleEnvoy, leadsGroup, removePidFile, writePidFile } from '../platform/pidfile.js';
import { processGone, processGroupGone } from '../platform/process-group.js';
import { oomKillCount } from '../platform/cgroup.js';
import type { SignalRouter } from '../platform/signals.js';
import { Supervisor, type SupervisorResult } from '../supervisor/supervisor.js';
import { signalNumber } from '../supervisor/exit-status.js';
import { confirmEnvoyVersion, prepare, type PrepareContext, type Prepared } from './prepare.js';
import type { WorkDir } from '../platform/workdir.js';
import { obtainBootstrap, type ObtainContext, type ObtainedBootstrap } from './obtain-bootstrap.js';

/** What `prepare` needs, except the abort signal, which the run job owns; plus the signal router. */
export interface RunContext extends Omit<PrepareContext, 'signal'> {
  signals: SignalRouter;
  /** Called once, right after the first Envoy has been started (the launcher writes its code cache then). */
  onEnvoyStarted?: (() => void) | undefined;
  /** Where setpriv's --pdeathsig probe is remembered (platform/pdeathsig.ts); without it, probed at every start. */
  setprivMemoFile?: string | undefined;
}

export interface RunOutcome {
  exitCode: number;
  message?: string;
  /** Exit at once (third signal): no further cleanup may delay it. */
  forced?: boolean;
}

const KILL_GRACE_MS = 5000;
const DRAIN_POLL_MS = 250;
const STABLE_AFTER_MS = 60_000;
const JITTER = 0.2;
/** A full collection once a burst of restarts or output has been over this long, or this often during one. */
const QUIET_GC_MS = 400;
const QUIET_GC_MAX_WAIT_MS = 2000;

/**
 * Envoy gets our environment minus systemd's notification variables: only kuma-dp speaks for the
 * unit (and the inline token was already taken out of process.env when it was read).
 */
function envoyEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NOTIFY_SOCKET: _socket, WATCHDOG_USEC: _usec, WATCHDOG_PID: _pid, ...rest } = env;
  return rest;
}

/** Until Envoy runs, a first signal cancels whatever is in flight; the third one exits at once. */
function startupSignals(ctx: RunContext, abort: AbortController): { forced: Promise<RunOutcome> } {
  let count = 0;
  let force!: (outcome: RunOutcome) => void;
  const forced = new Promise<RunOutcome>((resolve) => (force = resolve));
  ctx.signals.route((signal) => {
    if (signal !== 'SIGTERM' && signal !== 'SIGINT') {
      ctx.logger.info('signal ignored while starting', { signal });
      return;
    }
    count += 1;
    if (count === 1) {
      ctx.logger.info('received signal while starting; stopping before Envoy starts', { signal });
      abort.abort();
    } else if (count >= 3) {
      force({ exitCode: 128 + signalNumber(signal), forced: true, message: `forced exit on a third ${signal}` });
    }
  });
  return { forced };
}

/** A stale Envoy keeps the admin socket and the listener ports: stop it before ours starts (kuma#686). */
async function stopStaleEnvoy(workDir: string, logger: Logger): Promise<void> {
  const pid = await findStaleEnvoy(workDir);
  if (pid === undefined) return;
  logger.warn('stopping an Envoy left running by an earlier kuma-dp with this work dir', { pid });
  // A wrapper that did not exec leads the group the real Envoy is in: signal and wait for all of it.
  const group = leadsGroup(pid);
  const signal = (name: NodeJS.Signals): void => {
    try {
      process.kill(group ? -pid : pid, name);
    } catch {
      // Gone in the meantime: nothing left to stop.
    }
  };
  const gone = (): Promise<boolean> => (group ? processGroupGone(pid, KILL_GRACE_MS) : processGone(pid, KILL_GRACE_MS));
  signal('SIGTERM');
  if (await gone()) return;
  logger.warn('the stale Envoy ignored SIGTERM; killing it', { pid });
  signal('SIGKILL');
  await gone();
}

/**
 * The bootstrap for the Envoy that will run. With a recalled version (prepare.ts) the request goes
 * out while Envoy's `--version` still runs, and its answer decides: the same version keeps the
 * bootstrap; another one abandons that request, retried or not, and asks again; a failure ends the
 * run as it does in prepare. A signal ends it at once either way.
 */
async function bootstrapForEnvoy(ctx: ObtainContext): Promise<{ bootstrap: ObtainedBootstrap; prepared: Prepared }> {
  const { prepared, logger } = ctx;
  const answer = prepared.envoyRecalled;
  if (!answer) return { bootstrap: await obtainBootstrap(ctx), prepared };
  const superseded = new AbortController();
  answer.then(
    (version) => version.build !== prepared.envoy.build && superseded.abort(),
    () => superseded.abort(),
  );
  let first: { bootstrap: ObtainedBootstrap } | { error: unknown };
  try {
    first = { bootstrap: await obtainBootstrap({ ...ctx, signal: AbortSignal.any([ctx.signal, superseded.signal]) }) };
  } catch (error) {
    if (ctx.signal.aborted) throw error;
    first = { error };
  }
  // Throws the version error, when there is one: it comes first, as when --version is awaited first.
  const confirmed = await confirmEnvoyVersion(prepared, answer, logger);
  if (!confirmed.changed) {
    if ('error' in first) throw first.error;
    return { bootstrap: first.bootstrap, prepared: confirmed.prepared };
  }
  logger.info('Envoy printed another version than the last time; fetching the bootstrap again', {
    recalled: prepared.envoy.build,
    version: confirmed.prepared.envoy.build,
  });
  return { bootstrap: await obtainBootstrap({ ...ctx, prepared: confirmed.prepared }), prepared: confirmed.prepared };
}

/** `kuma-dp run`: prepare, get the bootstrap, supervise Envoy, and say how it ended. */
export async function runDataplane(ctx: RunContext): Promise<RunOutcome> {
  const { settings, logger } = ctx;
  const abort = new AbortController();
  const { forced } = startupSignals(ctx, abort);
  logger.info('starting Data Plane', {
    cpAddress: settings.cpAddress.href,
    bootstrap: settings.bootstrap,
    drainTime: formatDuration(settings.drainTimeMs),
    minDrainTime: formatDuration(settings.minDrainTimeMs),
    readinessPort: settings.readinessPort,
  });
  logger.info('Envoy restart policy', { policy: settings.restart.policy, reason: settings.restart.reason });

  let prepared: Prepared | undefined;
  // Known as soon as it is made, before prepare has finished: a forced exit while Envoy's
  // --version (or an install) is awaited must not leave a temp work dir behind.
  let workDir: WorkDir | undefined;
  let readiness: ReadinessServer | undefined;
  let wrapper: Promise<DeathSignalWrapper> | undefined;
  const deathSignalWrapperOnce = () => (wrapper ??= deathSignalWrapper(process.platform, ctx.env, ctx.setprivMemoFile));
  // What starts Envoy is loaded and probed while kuma-dp would otherwise wait: for Envoy's
  // --version, or else for the control plane's answer. Not sooner: the probe's spawn holds the
  // main thread for ~3 ms, on the way to the bootstrap request. A failure to load is launchEnvoy's
  // to report.
  const whileWaiting = () => {
    void loadExeca().catch(() => {});
    void deathSignalWrapperOnce();
  };
  const main = async (): Promise<RunOutcome> => {
    try {
      // A taken port is a configuration problem: say so now, not after minutes of bootstrap retries.
      // Probed while prepare runs, but reported after its problems, as if probed after it.
      const portFree = assertPortFree(readinessProbeHost(ctx.env), settings.readinessPort);
      portFree.catch(() => {});
      prepared = await prepare({ ...ctx, signal: abort.signal, whileWaitingForEnvoy: whileWaiting, onWorkDir: (made) => (workDir = made) });
      if (abort.signal.aborted) return { exitCode: ExitCode.OK };
      await portFree;
      await stopStaleEnvoy(prepared.workDir.path, logger);
      // No request to wait for: the probe runs alongside the local generation instead.
      if (settings.bootstrap === 'local') whileWaiting();
      const obtained = await bootstrapForEnvoy({ settings, prepared, env: ctx.env, logger, signal: abort.signal, onRequestSent: whileWaiting });
      prepared = obtained.prepared;
      const { bootstrap } = obtained;
      if (abort.signal.aborted) return { exitCode: ExitCode.OK };
      const configPath = await writeBootstrapFile(prepared.workDir.path, bootstrap.yaml);
      logger.info('bootstrap configuration saved to a file', { path: configPath });
      const deathSignal = await deathSignalWrapperOnce();
      // A signal during the write must not be lost: from here until the supervisor takes the
      // signals over there is no await, so this is the last moment one can have arrived unseen.
      if (abort.signal.aborted) return { exitCode: ExitCode.OK };

      const adminAddress = adminAddressFromBootstrap(bootstrap.document);
      const admin = adminAddress ? new AdminClient(adminAddress) : undefined;
      if (adminAddress) logger.info('Envoy admin API', { address: describeAdminAddress(adminAddress) });
      return await supervise(ctx, prepared, configPath, admin, adminAddress, bootstrap.dataplaneAddress, deathSignal, (server) => (readiness = server));
    } catch (err) {
      if (err instanceof BootstrapAborted || abort.signal.aborted) {
        logger.info('stopped before Envoy started');
        return { exitCode: ExitCode.OK };
      }
      // A taken port or a stale Envoy that would not stop: a failing --version is still reported
      // first, as when it is awaited first.
      await prepared?.envoyRecalled;
      throw err;
    }
  };
  try {
    const outcome = await Promise.race([main(), forced]);
    // A forced exit must not depend on the cleanup below finishing (a readiness client may hold on).
    if (outcome.forced && workDir?.temporary) rmSync(workDir.path, { recursive: true, force: true });
    return outcome;
  } finally {
    await readiness?.close().catch(() => {});
    if (workDir) {
      await removePidFile(workDir.path).catch(() => {});
      await workDir.cleanup().catch(() => {});
    }
  }
}

async function supervise(
  ctx: RunContext,
  prepared: Prepared,
  configPath: string,
  admin: AdminClient | undefined,
  adminAddress: ReturnType<typeof adminAddressFromBootstrap>,
  dataplaneAddress: string | undefined,
  firstWrapper: DeathSignalWrapper,
  onReadiness: (server: ReadinessServer) => void,
): Promise<RunOutcome> {
  const { settings, logger, env } = ctx;
  const notifier = createNotifier({ env, logger: logger.child('systemd') });
  let wrapper = firstWrapper;
  const warnUnprotected = () => {
    if (wrapper.unavailableReason) logger.warn('Envoy will not die with kuma-dp if kuma-dp is killed with SIGKILL', { reason: wrapper.unavailableReason });
  };
  warnUnprotected();
  const afterBurst = quietCollector({ quietMs: QUIET_GC_MS, maxWaitMs: QUIET_GC_MAX_WAIT_MS });
  const relay = new LogRelay({
    transform: envoyLineTransform(settings.envoyOutput),
    logger: logger.child('envoy-output'),
    collectGarbage: () => {
      collectYoungGarbage();
      afterBurst.activity();
    },
  });
  const args = buildEnvoyArgs({
    configPath,
    drainTimeMs: settings.drainTimeMs,
    logLevel: settings.envoyLogLevel,
    componentLogLevel: settings.envoyComponentLogLevel,
    concurrency: settings.concurrency,
    platform: process.platform,
  });
  const envoyLog = logger.child('envoy');
  let started = false;
  // A setpriv remembered as working (platform/pdeathsig.ts) is trusted for the first start only.
  // When that Envoy ends, or could not be spawned, setpriv may be what broke in place (a library,
  // a seccomp or AppArmor policy changed, the file did not): it is forgotten and probed again, once.
  const doubtRecalledWrapper = async () => {
    if (!wrapper.forgetRecalled) return;
    wrapper.forgetRecalled();
    wrapper = await deathSignalWrapper(process.platform, env, ctx.setprivMemoFile);
    warnUnprotected();
    // A shutdown during the probe: no Envoy to start and kill at once.
    if (supervisor.state === 'stopped') throw new Error('kuma-dp stopped while setpriv was probed');
  };
  const launch = () => launchEnvoy({ binary: prepared.envoyBinary, args, prefix: wrapper.prefix, env: envoyEnvironment(env), cwd: ctx.cwd });
  const supervisor = new Supervisor({
    logger: envoyLog,
    launch: async () => {
      if (started) await doubtRecalledWrapper();
      envoyLog.info('starting Envoy', { path: prepared.envoyBinary, arguments: args.join(' ') });
      try {
        return await launch();
      } catch (err) {
        if (!wrapper.forgetRecalled) throw err;
        envoyLog.warn('could not start Envoy through setpriv; probing it again', { reason: (err as Error).message });
        await doubtRecalledWrapper();
        return launch();
      }
    },
    output: relay,
    admin,
    drainQuery: drainQuery(prepared.envoy.version, { inboundOnly: true }),
    restartPolicy: settings.restart.policy,
    backoff: {
      initialMs: settings.restartBackoffMs,
      maxMs: settings.restartMaxBackoffMs,
      maxRestarts: settings.maxRestarts,
      windowMs: settings.restartWindowMs,
      stableAfterMs: STABLE_AFTER_MS,
      jitter: JITTER,
    },
    minDrainMs: settings.minDrainTimeMs,
    maxDrainMs: settings.drainTimeMs,
    drainPollMs: DRAIN_POLL_MS,
    killGraceMs: KILL_GRACE_MS,
    notify: (fields) => void notifier.notify(fields),
    watchdogIntervalMs: notifier.watchdogIntervalMs,
    onEnvoyPid: (pid) => {
      if (pid === undefined) return removePidFile(prepared.workDir.path);
      const written = writePidFile(prepared.workDir.path, pid, configPath);
      afterBurst.activity();
      if (!started) {
        started = true;
        // The code cache first: it must be made under the flags every kuma-dp starts with.
        ctx.onEnvoyStarted?.();
        tuneV8ForSupervision();
      }
      return written;
    },
    oomKillCount: () => oomKillCount(),
  });
  ctx.signals.route((signal) => supervisor.handleSignal(signal));

  const host = adminAddress ? readinessHost(env, adminAddress, dataplaneAddress) : '127.0.0.1';
  try {
    onReadiness(
      await startReadinessServer({ host, port: settings.readinessPort, logger: logger.child('readiness'), probe: () => supervisor.readiness() }),
    );
  } catch (err) {
    throw err instanceof KumaDpError ? err : new KumaDpError(`readiness reporter: ${(err as Error).message}`, { exitCode: 2 });
  }
  let result: SupervisorResult;
  try {
    result = await supervisor.run();
  } finally {
    afterBurst.stop();
  }
  // An Envoy that failed with no restart left: the next kuma-dp probes setpriv again.
  if (result.exitCode !== 0) wrapper.forgetRecalled?.();
  if (!result.forced) await relay.drained();
  logger.info('stopping Kuma DP', { exitCode: result.exitCode });
  return result;
}
