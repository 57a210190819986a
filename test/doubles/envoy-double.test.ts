import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseEnvoyVersion } from '../../src/envoy/version.js';
import { installEnvoyDouble } from './envoy-binary.js';
import { eventsOf, readRecord } from './envoy-record.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { waitFor, waitForExit } from '../support/wait.js';

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
}

function run(binary: string, args: string[], env: Record<string, string> = {}): Run {
  const child = spawn(binary, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { child, stdout: () => out, stderr: () => err };
}

function execDouble(binary: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(binary, args, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as NodeJS.ErrnoException).code) : 0, stdout, stderr });
    });
  });
}

type Target = { host: string; port: number } | { socketPath: string };

function admin(target: Target, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, method, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function tcpBootstrap(dir: string, extra = ''): string {
  const path = join(dir, 'bootstrap.yaml');
  writeFileSync(
    path,
    `node: {id: default.web, cluster: web}\nadmin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: 0}\n${extra}`,
  );
  return path;
}

/** Starts a double on a TCP bootstrap and resolves once the admin address file is written. */
async function startTcp(
  binary: string,
  dir: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<Run & { target: { host: string; port: number } }> {
  const addressFile = join(dir, `admin-${Math.random().toString(36).slice(2)}`);
  const r = run(binary, ['--config-path', tcpBootstrap(dir), '--admin-address-path', addressFile, ...args], env);
  const address = await waitFor(
    () => {
      try {
        return readFileSync(addressFile, 'utf8');
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 5000, what: 'the admin address file' },
  );
  const [host, port] = address.split(':');
  return { ...r, target: { host: host!, port: Number(port) } };
}

describe('envoy double', function () {
  let dir: string;
  let envoy: string;
  const children: ChildProcess[] = [];

  beforeEach(() => {
    dir = makeTempDir('envoy-double');
    envoy = installEnvoyDouble(dir);
  });
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    cleanupTempDirs();
  });
  const track = <R extends Run>(r: R): R => {
    children.push(r.child);
    return r;
  };

  it('prints the Envoy --version banner, with the version baked into the wrapper', async () => {
    const record = join(dir, 'record.jsonl');
    const versioned = installEnvoyDouble(dir, { name: 'envoy-1.30', version: '1.30.2', env: { ENVOY_DOUBLE_RECORD: record } });
    const { code, stdout } = await execDouble(versioned, ['--version']);
    const [early] = readRecord(record);
    expect(early).to.include({ event: 'early-exit', code: 0 });
    expect(early).to.have.deep.property('argv', ['--version']);
    expect(code).to.equal(0);
    expect(stdout).to.match(/^\nenvoy {2}version: [0-9a-f]{40}\/1\.30\.2\/Clean\/RELEASE\/BoringSSL\n\n$/);
    expect(parseEnvoyVersion(stdout).version).to.equal('1.30.2');
    expect((await execDouble(envoy, ['--version'])).stdout).to.contain('/1.34.1/');
  });

  it('rejects an unknown flag like TCLAP, with exit 1', async () => {
    const { code, stderr } = await execDouble(envoy, ['--disable-hot-restart', '--bogus']);
    expect(code).to.equal(1);
    expect(stderr).to.match(/^PARSE ERROR: Argument: --bogus\n {13}Couldn't find match for argument\n/);
    expect(stderr).to.contain('USAGE');
  });

  it('prints the bad-config triple and exits 1 for a missing file; validates a good one', async () => {
    const bad = await execDouble(envoy, ['-c', join(dir, 'missing.yaml')]);
    expect(bad.code).to.equal(1);
    const lines = bad.stderr.trim().split('\n');
    expect(lines.at(-3)).to.match(/\]\[critical\]\[main\] \[source\/server\/server\.cc:\d+\] error initializing config '.*missing\.yaml': unable to read file/);
    expect(lines.at(-2)).to.match(/\]\[info\]\[main\] .* exiting$/);
    expect(lines.at(-1)).to.equal(`unable to read file: ${join(dir, 'missing.yaml')}`);

    const path = tcpBootstrap(dir);
    const ok = await execDouble(envoy, ['--mode', 'validate', '-c', path]);
    expect(ok).to.include({ code: 0 });
    expect(ok.stdout).to.equal(`configuration '${path}' OK\n`);
  });

  it('serves /ready over TCP, moving from 503 to LIVE after the live delay', async () => {
    const r = track(await startTcp(envoy, dir, { ENVOY_DOUBLE_LIVE_DELAY_MS: '300' }));
    const early = await admin(r.target, 'GET', '/ready');
    expect(early.status).to.equal(503);
    expect(early.body).to.match(/^(PRE_INITIALIZING|INITIALIZING)\n$/);
    await waitFor(async () => (await admin(r.target, 'GET', '/ready')).status === 200, { timeoutMs: 5000, what: 'LIVE' });
    expect((await admin(r.target, 'GET', '/ready')).body).to.equal('LIVE\n');
    const info = JSON.parse((await admin(r.target, 'GET', '/server_info')).body) as Record<string, unknown>;
    expect(info.state).to.equal('LIVE');
    expect(r.stderr()).to.match(/\[info\]\[main\] \[source\/server\/server\.cc:\d+\] starting main dispatch loop/);
  });

  it('serves the admin API on a unix socket from admin.address.pipe (camelCase accepted)', async () => {
    const socketPath = join(dir, 'admin.sock');
    const path = join(dir, 'bootstrap.json');
    writeFileSync(path, JSON.stringify({ admin: { address: { pipe: { path: socketPath, mode: 384 } } } }));
    track(run(envoy, ['-c', path], { ENVOY_DOUBLE_LIVE_DELAY_MS: '0' }));
    const ready = await waitFor(() => admin({ socketPath }, 'GET', '/ready').catch(() => undefined), {
      timeoutMs: 5000,
      what: 'the admin socket',
    });
    expect(ready.status).to.be.oneOf([200, 503]);

    const camel = join(dir, 'camel.json');
    writeFileSync(camel, JSON.stringify({ admin: { address: { socketAddress: { address: '127.0.0.1', portValue: 0 } } } }));
    const addressFile = join(dir, 'camel.addr');
    track(run(envoy, ['-c', camel, '--admin-address-path', addressFile]));
    const address = await waitFor(() => readFileSync(addressFile, 'utf8'), { timeoutMs: 5000, what: 'camelCase admin' });
    expect(address).to.match(/^127\.0\.0\.1:\d+$/);
  });

  it('exits 0 at once on SIGTERM, logging caught ENVOY_SIGTERM then exiting', async () => {
    const r = track(await startTcp(envoy, dir));
    const sent = Date.now();
    r.child.kill('SIGTERM');
    const status = await waitForExit(r.child, 5000);
    expect(status).to.deep.equal({ code: 0, signal: null });
    expect(Date.now() - sent).to.be.below(2000);
    expect(r.stderr()).to.contain('caught ENVOY_SIGTERM');
    expect(r.stderr().trim().split('\n').at(-1)).to.match(/\] exiting$/);
  });

  it('only takes mutations by POST and drains connection gauges on plan', async () => {
    const r = track(
      await startTcp(envoy, dir, {
        ENVOY_DOUBLE_LIVE_DELAY_MS: '0',
        ENVOY_DOUBLE_CONNECTIONS: 'listener.0.0.0.0_8080=3',
        ENVOY_DOUBLE_CONNECTIONS_DRAIN_AFTER_MS: '100',
      }),
    );
    await waitFor(async () => (await admin(r.target, 'GET', '/ready')).status === 200, { timeoutMs: 5000, what: 'LIVE' });
    const get = await admin(r.target, 'GET', '/healthcheck/fail');
    expect(get.status).to.equal(405);
    expect((await admin(r.target, 'GET', '/ready')).body).to.equal('LIVE\n');

    const filter = encodeURIComponent('^listener\\..*\\.downstream_cx_active$');
    const gauges = async (): Promise<Record<string, number>> => {
      const { stats } = JSON.parse((await admin(r.target, 'GET', `/stats?filter=${filter}&format=json`)).body) as {
        stats: { name: string; value: number }[];
      };
      return Object.fromEntries(stats.map((s) => [s.name, s.value]));
    };
    expect(await gauges()).to.include({
      'listener.0.0.0.0_8080.downstream_cx_active': 3,
      'listener.0.0.0.0_8080.worker_0.downstream_cx_active': 3,
    });
    expect((await gauges())['listener.admin.downstream_cx_active']).to.be.at.least(1);

    expect((await admin(r.target, 'POST', '/healthcheck/fail')).status).to.equal(200);
    expect(await admin(r.target, 'GET', '/ready')).to.deep.equal({ status: 503, body: 'DRAINING\n' });
    expect((await admin(r.target, 'GET', '/stats?filter=^server\\.live$')).body).to.equal('server.live: 0\n');
    await waitFor(async () => (await gauges())['listener.0.0.0.0_8080.downstream_cx_active'] === 0, {
      timeoutMs: 5000,
      what: 'the gauge to drain',
    });
    expect((await admin(r.target, 'POST', '/double/connections?name=0.0.0.0_8080&value=2')).status).to.equal(200);
    expect((await gauges())['listener.0.0.0.0_8080.downstream_cx_active']).to.equal(2);
  });

  it('rejects skip_exit without graceful before Envoy 1.27', async () => {
    const old = installEnvoyDouble(dir, { name: 'envoy-old', version: '1.26.4' });
    const r = track(await startTcp(old, dir));
    expect((await admin(r.target, 'POST', '/drain_listeners?inboundonly&skip_exit')).status).to.equal(400);
    expect((await admin(r.target, 'POST', '/drain_listeners?inboundonly&graceful&skip_exit')).status).to.equal(200);
  });

  it('floods exactly N ordered lines of the requested length', async () => {
    const lines = 20000;
    const r = track(
      await startTcp(envoy, dir, {
        ENVOY_DOUBLE_FLOOD_LINES: String(lines),
        ENVOY_DOUBLE_FLOOD_BYTES: '100',
        ENVOY_DOUBLE_FLOOD_STREAM: 'stdout',
        ENVOY_DOUBLE_LONG_LINE_BYTES: '200000',
      }),
    );
    const out = await waitFor(() => r.stdout().endsWith('\n') && r.stdout().includes('long-line') && r.stdout(), {
      timeoutMs: 10000,
      what: 'the flood to finish',
    });
    const got = out.split('\n').slice(0, -1);
    expect(got).to.have.length(lines + 1);
    got.slice(0, lines).forEach((line, i) => {
      if (!line.startsWith(`flood ${String(i + 1).padStart(9, '0')} `) || line.length !== 99) {
        expect.fail(`line ${i + 1} is ${JSON.stringify(line.slice(0, 30))} (${line.length} chars)`);
      }
    });
    expect(got[lines]).to.have.length(199999);
  });

  it('records start, argv, admin calls, signals and exit', async () => {
    const file = join(dir, 'record.jsonl');
    const pidFile = join(dir, 'pid');
    const r = track(await startTcp(envoy, dir, { ENVOY_DOUBLE_RECORD: file, ENVOY_DOUBLE_PID_FILE: pidFile }, ['--drain-time-s', '5']));
    await admin(r.target, 'POST', '/drain_listeners?inboundonly&graceful&skip_exit');
    r.child.kill('SIGINT');
    expect(await waitForExit(r.child, 5000)).to.deep.equal({ code: 0, signal: null });
    const events = readRecord(file);
    expect(events.map((e) => e.event)).to.include.members(['start', 'argv', 'admin', 'signal', 'exit']);
    expect(events.every((e) => e.pid === r.child.pid)).to.equal(true);
    expect(Number(readFileSync(pidFile, 'utf8'))).to.equal(r.child.pid);
    expect(eventsOf(events, 'argv')[0]!.argv).to.include.ordered.members(['--config-path']);
    expect(eventsOf(events, 'argv')[0]!.argv).to.include('--drain-time-s');
    const drain = eventsOf(events, 'admin').find((e) => e.path === '/drain_listeners');
    expect(drain).to.include({ method: 'POST', query: 'inboundonly&graceful&skip_exit', status: 200 });
    expect(eventsOf(events, 'signal').map((e) => e.signal)).to.deep.equal(['SIGINT']);
    expect(eventsOf(events, 'exit')).to.have.length(1);
    expect(eventsOf(events, 'exit')[0]!.code).to.equal(0);
  });

  it('applies per-start knobs with a state dir', async () => {
    const env = {
      ENVOY_DOUBLE_STATE_DIR: join(dir, 'state'),
      ENVOY_DOUBLE_EXIT_AFTER_MS_1: '0',
      ENVOY_DOUBLE_EXIT_CODE_1: '3',
      ENVOY_DOUBLE_RECORD: join(dir, 'record.jsonl'),
    };
    const first = track(await startTcp(envoy, dir, env));
    expect(await waitForExit(first.child, 5000)).to.deep.equal({ code: 3, signal: null });
    const second = track(await startTcp(envoy, dir, env));
    expect((await admin(second.target, 'GET', '/server_info')).status).to.equal(200);
    expect(second.child.exitCode).to.equal(null);
    expect(eventsOf(readRecord(env.ENVOY_DOUBLE_RECORD), 'start').map((e) => e.startNumber)).to.deep.equal([1, 2]);
  });

  it('crashes with a signal after the backtrace banner', async () => {
    const r = track(await startTcp(envoy, dir, { ENVOY_DOUBLE_CRASH_AFTER_MS: '0' }));
    expect(await waitForExit(r.child, 5000)).to.deep.equal({ code: null, signal: 'SIGSEGV' });
    expect(r.stderr()).to.match(/\[critical\]\[backtrace\] .*Caught Segmentation fault/);
  });

  it('keeps running on SIGTERM when told to ignore it', async () => {
    const r = track(await startTcp(envoy, dir, { ENVOY_DOUBLE_IGNORE_SIGTERM: '1' }));
    r.child.kill('SIGTERM');
    await waitFor(() => r.stderr().includes('caught ENVOY_SIGTERM'), { timeoutMs: 5000, what: 'the SIGTERM log' });
    expect((await admin(r.target, 'GET', '/ready')).status).to.be.oneOf([200, 503]);
    r.child.kill('SIGKILL');
    expect(await waitForExit(r.child, 5000)).to.deep.equal({ code: null, signal: 'SIGKILL' });
  });

  it('prints the bad-config triple for ENVOY_DOUBLE_CONFIG_ERROR and honours --log-level off', async () => {
    const r = track(run(envoy, ['-c', tcpBootstrap(dir), '-l', 'off'], { ENVOY_DOUBLE_CONFIG_ERROR: "route: unknown cluster 'app'" }));
    expect(await waitForExit(r.child, 5000)).to.deep.equal({ code: 1, signal: null });
    expect(r.stderr()).to.equal("route: unknown cluster 'app'\n");
  });

  it('writes ENVOY_DOUBLE_STDOUT_LINES on stdout at start', async () => {
    const r = track(await startTcp(envoy, dir, { ENVOY_DOUBLE_STDOUT_LINES: '3' }));
    await waitFor(() => r.stdout() === 'stdout line 1\nstdout line 2\nstdout line 3\n', { timeoutMs: 5000, what: 'three stdout lines' });
  });

  it('records an ads-error when ENVOY_DOUBLE_ADS=1 cannot reach an ADS server', async () => {
    const file = join(dir, 'record.jsonl');
    const path = join(dir, 'ads.yaml');
    writeFileSync(
      path,
      'node: {id: default.web, cluster: web}\n' +
        'admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}\n' +
        'dynamic_resources: {ads_config: {api_type: DELTA_GRPC, grpc_services: [{envoy_grpc: {cluster_name: missing}}]}}\n',
    );
    track(run(envoy, ['-c', path], { ENVOY_DOUBLE_ADS: '1', ENVOY_DOUBLE_RECORD: file }));
    const errors = await waitFor(() => eventsOf(readRecord(file), 'ads-error')[0], { timeoutMs: 5000, what: 'an ads-error event' });
    expect(errors.message).to.contain('missing');
  });

  it('requires node id and cluster when the bootstrap uses ADS', async () => {
    const path = join(dir, 'ads.yaml');
    writeFileSync(path, 'admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}\ndynamic_resources: {ads_config: {}}\n');
    const { code, stderr } = await execDouble(envoy, ['-c', path]);
    expect(code).to.equal(1);
    expect(stderr.trim().split('\n').at(-1)).to.match(/^ads: node 'id' and 'cluster' are required/);
  });

  it('fails like Envoy when the admin port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as AddressInfo;
      const path = join(dir, 'taken.yaml');
      writeFileSync(path, `admin: {address: {socket_address: {address: 127.0.0.1, port_value: ${port}}}}\n`);
      const { code, stderr } = await execDouble(envoy, ['-c', path]);
      expect(code).to.equal(1);
      expect(stderr.trim().split('\n').at(-1)).to.equal(`cannot bind '127.0.0.1:${port}': Address already in use`);
    } finally {
      blocker.close();
    }
  });
});
