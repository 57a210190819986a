import { chmodSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { EnvoyOptions } from './argv.js';
import { BootstrapError, loadBootstrap, type AdminAddress, type LoadedBootstrap } from './bootstrap.js';
import { EnvoyLog } from './log.js';
import { Knobs } from './knobs.js';
import { EnvoyState, createAdminHandler, listenerKey } from './admin.js';
import { appendRecord, type RecordEventInput } from '../envoy-record.js';

const env = process.env;
const recordFile = env.ENVOY_DOUBLE_RECORD;

function record(event: RecordEventInput): void {
  if (recordFile) appendRecord(recordFile, event);
}

function exit(code: number, reason?: string): never {
  record({ event: 'exit', code, ...(reason === undefined ? {} : { reason }) });
  process.exit(code);
}

const CRASH_NAMES: Record<string, string> = {
  SIGSEGV: 'Segmentation fault',
  SIGABRT: 'Aborted',
  SIGBUS: 'Bus error',
  SIGILL: 'Illegal instruction',
  SIGFPE: 'Floating point exception',
};

/** Runs the double's server lifecycle for parsed options; see the knob list in ../envoy-double.ts. */
export async function serve(options: EnvoyOptions, version: string, build: string): Promise<void> {
  // Like Envoy (which ignores SIGPIPE), keep running when whoever reads our output goes away.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const knobs = Knobs.fromEnv(env);
  if (env.ENVOY_DOUBLE_PID_FILE) writeFileSync(env.ENVOY_DOUBLE_PID_FILE, `${process.pid}\n`);
  record({ event: 'start', startNumber: knobs.startNumber ?? null, version });
  record({ event: 'argv', argv: process.argv.slice(2) });

  const log = new EnvoyLog(options.logLevel, options.logPath);
  const state = new EnvoyState();
  installSignals(log, knobs);

  log.info(`initializing epoch ${options.restartEpoch} (base id=${options.baseId}, hot restart version=disabled)`);
  const configError = knobs.str('CONFIG_ERROR');
  if (configError !== undefined) badConfig(log, options, configError);

  let loaded: LoadedBootstrap;
  try {
    loaded = await loadBootstrap(options);
  } catch (err) {
    if (err instanceof BootstrapError) badConfig(log, options, err.message);
    throw err;
  }
  if (options.mode === 'validate') {
    process.stdout.write(`configuration '${options.configPath ?? ''}' OK\n`);
    exit(0);
  }

  for (const name of loaded.listeners) state.connections.set(name, 0);
  for (const pair of (knobs.str('CONNECTIONS') ?? '').split(',').filter(Boolean)) {
    const eq = pair.lastIndexOf('=');
    state.connections.set(listenerKey(pair.slice(0, eq)), Number(pair.slice(eq + 1)) || 0);
  }

  const workers = options.concurrency ?? 1;
  const drainAfter = knobs.int('CONNECTIONS_DRAIN_AFTER_MS');
  let drainPlanned = false;
  const handler = createAdminHandler({
    state,
    options,
    build,
    version,
    bootstrap: loaded.bootstrap,
    workers,
    record,
    logError: (message) => log.log('error', 'admin', 'source/server/admin/admin.cc:291', message),
    setLogLevel: (level) => log.setLevel(level),
    onDrainStarted: () => {
      if (drainAfter === undefined || drainPlanned) return;
      drainPlanned = true;
      setTimeout(() => {
        for (const name of state.connections.keys()) state.connections.set(name, 0);
        record({ event: 'connections', name: '*', value: 0 });
      }, drainAfter);
    },
    onQuit: () => shutdown(log, 'source/server/admin/admin.cc:180'),
  });
  const server = createServer({ keepAliveTimeout: 60_000 }, handler);
  server.on('connection', (socket) => {
    state.adminConnections++;
    state.adminConnectionsTotal++;
    socket.on('close', () => state.adminConnections--);
  });
  const bound = await listen(server, loaded.admin).catch((err: NodeJS.ErrnoException) =>
    badConfig(log, options, `cannot bind '${addressText(loaded.admin)}': ${errnoText(err)}`),
  );
  log.info(`admin address: ${bound}`, 'source/server/admin/admin.cc:65');
  if (options.adminAddressPath) {
    // Renamed into place so a poller never reads a half-written address.
    writeFileSync(`${options.adminAddressPath}.tmp`, bound);
    renameSync(`${options.adminAddressPath}.tmp`, options.adminAddressPath);
  }

  scheduleLifecycle(log, knobs, state, build);
  writeStartupOutput(knobs);
  if (loaded.ads && knobs.flag('ADS')) await startAds(log, loaded.bootstrap);
}

function addressText(admin: AdminAddress): string {
  return admin.kind === 'tcp' ? `${admin.address}:${admin.port}` : admin.path;
}

function errnoText(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'Address already in use';
  if (err.code === 'EACCES') return 'Permission denied';
  if (err.code === 'EADDRNOTAVAIL') return 'Cannot assign requested address';
  return err.message;
}

function listen(server: ReturnType<typeof createServer>, admin: AdminAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (admin.kind === 'pipe') {
      // Envoy unlinks a stale socket file before binding a pipe address.
      try {
        unlinkSync(admin.path);
      } catch {
        // nothing to remove
      }
      server.listen(admin.path, () => {
        if (admin.mode !== undefined) chmodSync(admin.path, admin.mode);
        resolve(admin.path);
      });
    } else {
      server.listen(admin.port, admin.address, () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : admin.port;
        resolve(admin.address.includes(':') ? `[${admin.address}]:${port}` : `${admin.address}:${port}`);
      });
    }
  });
}

/** Envoy's three-part bad-config output on stderr, then exit 1. */
function badConfig(log: EnvoyLog, options: EnvoyOptions, reason: string): never {
  log.log('critical', 'main', 'source/server/server.cc:131', `error initializing config '${options.configPath ?? ''}': ${reason}`);
  log.info('exiting', 'source/server/server.cc:1085');
  process.stderr.write(`${reason}\n`);
  exit(1, reason);
}

function shutdown(log: EnvoyLog, source = 'source/server/server.cc:1093'): never {
  log.info('shutting down server instance', source);
  log.info('main dispatch loop exited', 'source/server/server.cc:1033');
  log.info('exiting', 'source/server/server.cc:1085');
  exit(0);
}

function installSignals(log: EnvoyLog, knobs: Knobs): void {
  const ignoreTerm = knobs.flag('IGNORE_SIGTERM');
  const onTerm = (signal: 'SIGTERM' | 'SIGINT') => () => {
    record({ event: 'signal', signal });
    log.info(signal === 'SIGTERM' ? 'caught ENVOY_SIGTERM' : 'caught SIGINT', 'source/server/server.cc:950');
    if (!ignoreTerm) shutdown(log);
  };
  process.on('SIGTERM', onTerm('SIGTERM'));
  process.on('SIGINT', onTerm('SIGINT'));
  process.on('SIGUSR1', () => {
    record({ event: 'signal', signal: 'SIGUSR1' });
    log.info('caught SIGUSR1. Reopening access logs.', 'source/server/server.cc:963');
  });
  process.on('SIGHUP', () => {
    record({ event: 'signal', signal: 'SIGHUP' });
    log.log('warning', 'main', 'source/server/server.cc:968', 'caught and eating SIGHUP. See documentation for how to hot restart.');
  });
}

function scheduleLifecycle(log: EnvoyLog, knobs: Knobs, state: EnvoyState, build: string): void {
  log.info('starting main dispatch loop', 'source/server/server.cc:1021');
  const liveRaw = knobs.str('LIVE_DELAY_MS');
  const never = liveRaw === 'never';
  const liveDelay = never ? undefined : (knobs.int('LIVE_DELAY_MS') ?? 50);
  const initializing = (): void => {
    state.init = 'INITIALIZING';
    log.info('all clusters initialized. initializing init manager', 'source/common/upstream/cluster_manager_impl.cc:252');
  };
  if (liveDelay === undefined) {
    setTimeout(initializing, 25);
  } else {
    setTimeout(initializing, Math.floor(liveDelay / 2));
    setTimeout(() => {
      state.init = 'INITIALIZED';
      log.info('all dependencies initialized. starting workers', 'source/server/server.cc:1001');
      record({ event: 'live' });
    }, liveDelay);
  }

  const exitAfter = knobs.int('EXIT_AFTER_MS');
  if (exitAfter !== undefined) {
    const code = knobs.int('EXIT_CODE') ?? 1;
    setTimeout(() => {
      log.log(code === 0 ? 'info' : 'critical', 'main', 'source/exe/main_common.cc:266', `envoy double: exiting with code ${code}`);
      exit(code);
    }, exitAfter);
  }
  const crashAfter = knobs.int('CRASH_AFTER_MS');
  if (crashAfter !== undefined) {
    const signal = (knobs.str('CRASH_SIGNAL') ?? 'SIGSEGV') as NodeJS.Signals;
    setTimeout(() => {
      const what = CRASH_NAMES[signal] ?? signal;
      log.log('critical', 'backtrace', './source/server/backtrace.h:104', `Caught ${what}, suspect faulting address 0x0`);
      log.log('critical', 'backtrace', './source/server/backtrace.h:91', 'Backtrace (use tools/stack_decode.py to get line numbers):');
      log.log('critical', 'backtrace', './source/server/backtrace.h:92', `Envoy version: ${build}`);
      record({ event: 'exit', code: null, signal });
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }, crashAfter);
  }
}

function writeStartupOutput(knobs: Knobs): void {
  const stdoutLines = knobs.str('STDOUT_LINES');
  if (stdoutLines !== undefined) {
    const text = /^\d+$/.test(stdoutLines)
      ? Array.from({ length: Number(stdoutLines) }, (_, i) => `stdout line ${i + 1}\n`).join('')
      : stdoutLines.replace(/\\n/g, '\n').replace(/\n?$/, '\n');
    process.stdout.write(text);
  }
  const streamName = knobs.str('FLOOD_STREAM') === 'stdout' ? 'stdout' : 'stderr';
  const stream = process[streamName];
  const lines = knobs.int('FLOOD_LINES') ?? 0;
  const lineBytes = Math.max(17, knobs.int('FLOOD_BYTES') ?? 120);
  const longLine = knobs.int('LONG_LINE_BYTES');
  let next = 1;
  // Batches keep the admin API responsive while a slow reader applies back-pressure.
  const writeBatch = (): void => {
    const end = Math.min(lines, next + Math.max(1, Math.floor(65536 / lineBytes)) - 1);
    let chunk = '';
    for (; next <= end; next++) {
      const head = `flood ${String(next).padStart(9, '0')} `;
      chunk += `${head}${'x'.repeat(lineBytes - head.length - 1)}\n`;
    }
    const more = next <= lines;
    const done = (): void => {
      if (more) {
        setImmediate(writeBatch);
        return;
      }
      if (lines > 0) record({ event: 'flood', stream: streamName, lines, bytes: lines * lineBytes });
      if (longLine !== undefined) {
        const head = 'long-line ';
        stream.write(`${head}${'y'.repeat(Math.max(0, longLine - head.length - 1))}\n`);
      }
    };
    if (chunk && !stream.write(chunk)) stream.once('drain', done);
    else done();
  };
  if (lines > 0 || longLine !== undefined) setImmediate(writeBatch);
}

async function startAds(log: EnvoyLog, bootstrap: Record<string, unknown>): Promise<void> {
  try {
    // Loaded only on demand: the gRPC stack would slow down every other start.
    const { connectAds } = await import('../ads-client.js');
    await connectAds(bootstrap, (event) => record({ event: 'ads', ads: event as Record<string, unknown> }));
  } catch (err) {
    const message = `envoy double: ADS client failed: ${(err as Error).message}`;
    record({ event: 'ads-error', message });
    log.log('error', 'config', 'source/extensions/config_subscription/grpc/grpc_stream.h:193', message);
  }
}

/** Last resort for a bug in the double itself: a distinctive exit code, never mistaken for Envoy's. */
export function internalError(err: unknown): never {
  process.stderr.write(`envoy double: internal error: ${(err as Error).stack ?? String(err)}\n`);
  exit(70);
}
