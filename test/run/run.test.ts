import { expect } from 'chai';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { eventsOf } from '../doubles/envoy-record.js';
import { waitFor } from '../support/wait.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { writeExecutable } from '../support/executable.js';
import { getReady, processGone, runKumaDp } from '../support/kuma-dp.js';
import { runFixture, TOKEN, type RunFixture } from '../support/run-fixture.js';

/** `args` without `flag` and its value. */
const withoutFlag = (args: string[], flag: string): string[] => args.filter((arg, i) => arg !== flag && args[i - 1] !== flag);

describe('kuma-dp run: the core path against the doubles', function () {
  let fx: RunFixture;
  beforeEach(async () => {
    fx = await runFixture();
  });
  afterEach(async () => {
    await fx.close();
  });
  after(cleanupTempDirs);

  it('fetches the bootstrap, starts Envoy with kuma-dp argv exactly, and drains on SIGTERM (exit 0)', async () => {
    // An open connection keeps the drain at its full second, so TERMINATING is there to be seen.
    const dp = fx.start(['--drain-time', '1s', '--concurrency', '3', '--envoy-log-level', 'warning'], { env: { ENVOY_DOUBLE_CONNECTIONS: 'a=1' } });
    await fx.waitLive(dp);

    const argv = eventsOf(fx.record(), 'argv')[0]!.argv;
    const configPath = join(fx.workDir, 'bootstrap.yaml');
    expect(argv).to.deep.equal([
      '--config-path', configPath, '--drain-time-s', '1', '--drain-strategy', 'immediate',
      '--disable-hot-restart', '--log-level', 'warning', '--concurrency', '3',
    ]);
    expect(statSync(configPath).mode & 0o777).to.equal(0o600);
    expect(statSync(fx.workDir).mode & 0o777).to.equal(0o711);

    const request = fx.cp.requests[0]!;
    expect(request.headers['content-type']).to.equal('application/json');
    expect(request.headers.accept).to.equal('application/json');
    expect(request.body!.dataplaneToken).to.equal(TOKEN);
    expect(request.body!.dataplaneTokenPath).to.equal(fx.tokenPath);
    expect(JSON.parse(request.body!.dataplaneResource as string)).to.include({ type: 'Dataplane', mesh: 'default', name: 'web-1' });
    expect(request.body!.readinessPort).to.equal(fx.readinessPort);
    expect((request.body!.version as { envoy: { version: string } }).envoy.version).to.equal('1.34.1');

    await waitFor(async () => (await getReady(fx.readinessPort)).status === 200, { timeoutMs: 5000, what: 'readiness 200' });
    dp.signal('SIGTERM');
    await waitFor(async () => (await getReady(fx.readinessPort).catch(() => ({ status: 0, body: '' }))).body === 'TERMINATING', {
      timeoutMs: 3000,
      what: 'readiness TERMINATING during the drain',
    });
    const status = await dp.waitForExit();
    expect(status.code).to.equal(0);

    const admin = eventsOf(fx.record(), 'admin').map((e) => `${e.method} ${e.path}${e.query ? `?${e.query}` : ''}`);
    expect(admin).to.include('POST /healthcheck/fail');
    expect(admin).to.include('POST /drain_listeners?inboundonly&graceful&skip_exit');
    expect(eventsOf(fx.record(), 'signal').map((e) => e.signal)).to.deep.equal(['SIGTERM']);
    const envoyPid = eventsOf(fx.record(), 'start')[0]!.pid;
    expect(processGone(envoyPid)).to.equal(true);
    expect(existsSync(configPath), 'an explicit work dir is kept').to.equal(true);
    for (const text of [dp.stdout(), dp.stderr(), argv.join(' ')]) expect(text).not.to.include(TOKEN);
  });

  it('waits the drain time while connections stay open, and stops Envoy only then', async () => {
    const dp = fx.start(['--drain-time', '1500ms', '--min-drain-time', '200ms'], { env: { ENVOY_DOUBLE_CONNECTIONS: '0.0.0.0_8080=3' } });
    await fx.waitLive(dp);
    const signalledAt = Date.now();
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
    const sigterm = eventsOf(fx.record(), 'signal').find((e) => e.signal === 'SIGTERM')!;
    expect(sigterm.t - signalledAt).to.be.within(1400, 2500);
  });

  it('stops Envoy as soon as the connections reach zero, but not before the minimum drain', async () => {
    const dp = fx.start(['--drain-time', '10s', '--min-drain-time', '300ms'], {
      env: { ENVOY_DOUBLE_CONNECTIONS: '0.0.0.0_8080=2', ENVOY_DOUBLE_CONNECTIONS_DRAIN_AFTER_MS: '800' },
    });
    await fx.waitLive(dp);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
    const record = fx.record();
    const zeroAt = eventsOf(record, 'connections').find((e) => e.value === 0)!.t;
    const sigterm = eventsOf(record, 'signal').find((e) => e.signal === 'SIGTERM')!.t;
    expect(sigterm - zeroAt).to.be.within(0, 1000);

    const quick = await runFixture();
    try {
      const dp2 = quick.start(['--drain-time', '10s', '--min-drain-time', '700ms']);
      await quick.waitLive(dp2);
      const at = Date.now();
      dp2.signal('SIGTERM');
      expect((await dp2.waitForExit()).code).to.equal(0);
      const stop = eventsOf(quick.record(), 'signal').find((e) => e.signal === 'SIGTERM')!.t;
      expect(stop - at, 'no connections, yet the minimum drain is kept').to.be.within(650, 1500);
    } finally {
      await quick.close();
    }
  });

  it('a second signal cuts the drain short, a third exits at once with 128+n', async () => {
    const dp = fx.start(['--drain-time', '20s'], { env: { ENVOY_DOUBLE_CONNECTIONS: 'x=1' } });
    await fx.waitLive(dp);
    dp.signal('SIGTERM');
    await dp.waitForStderr(/waiting for connections to be drained/);
    const at = Date.now();
    dp.signal('SIGINT');
    expect((await dp.waitForExit()).code).to.equal(0);
    expect(Date.now() - at).to.be.below(2000);

    const fx3 = await runFixture({ envoyEnv: { ENVOY_DOUBLE_IGNORE_SIGTERM: '1', ENVOY_DOUBLE_CONNECTIONS: 'x=1' } });
    try {
      const dp3 = fx3.start(['--drain-time', '20s']);
      await fx3.waitLive(dp3);
      dp3.signal('SIGTERM');
      await dp3.waitForStderr(/waiting for connections to be drained/);
      dp3.signal('SIGTERM');
      await dp3.waitForStderr(/stopping Envoy|skipping the rest of the drain/);
      dp3.signal('SIGTERM');
      const status = await dp3.waitForExit(3000);
      expect(status.code).to.equal(128 + 15);
      expect(dp3.stderr().trim().split('\n').pop()).to.match(/^Error: forced exit on a third SIGTERM/);
      const envoyPid = eventsOf(fx3.record(), 'start')[0]!.pid;
      await waitFor(() => processGone(envoyPid), { timeoutMs: 2000, what: 'Envoy killed by the third signal' });
    } finally {
      await fx3.close();
    }
  });

  it('SIGUSR2 drains inbound listeners and keeps running; a later SIGTERM stops without another wait', async () => {
    const dp = fx.start(['--drain-time', '20s', '--min-drain-time', '10s'], { env: { ENVOY_DOUBLE_CONNECTIONS: 'x=1' } });
    await fx.waitLive(dp);
    dp.signal('SIGUSR2');
    await waitFor(() => eventsOf(fx.record(), 'admin').some((e) => e.path === '/drain_listeners'), { timeoutMs: 3000, what: 'drain_listeners' });
    const drain = eventsOf(fx.record(), 'admin').find((e) => e.path === '/drain_listeners')!;
    expect(drain.query).to.equal('inboundonly&graceful&skip_exit');
    expect((await getReady(fx.readinessPort)).status, 'readiness is not flipped by SIGUSR2').to.equal(200);
    const at = Date.now();
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
    expect(Date.now() - at).to.be.below(2000);
    expect(eventsOf(fx.record(), 'admin').some((e) => e.path === '/healthcheck/fail')).to.equal(false);
  });

  it('readiness answers 503 before Envoy is live and after shutdown begins', async () => {
    const dp = fx.start([], { env: { ENVOY_DOUBLE_LIVE_DELAY_MS: '1500' } });
    const early = await waitFor(async () => getReady(fx.readinessPort).catch(() => undefined), { timeoutMs: 10_000, what: 'readiness reporter up' });
    expect(early.status).to.equal(503);
    await waitFor(async () => (await getReady(fx.readinessPort)).status === 200, { timeoutMs: 5000, what: 'readiness 200 once live' });
    const other = await fetch(`http://127.0.0.1:${fx.readinessPort}/ready/x`);
    expect(other.status).to.equal(404);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
  });

  it("binds readiness on IPv6 loopback when the control plane says the data plane's address is IPv6", async () => {
    await fx.close();
    fx = await runFixture({ cp: { networkingAddress: 'fd00::10' } });
    const dp = fx.start();
    await fx.waitLive(dp);
    const v6 = await fetch(`http://[::1]:${fx.readinessPort}/ready`);
    expect(v6.status, 'answers on ::1').to.equal(200);
    expect(await getReady(fx.readinessPort).then(() => 'answered', () => 'refused'), 'not on 127.0.0.1').to.equal('refused');
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
  });

  it('removes a temp work dir at exit, with the inline token written 0600 while running', async () => {
    const args = withoutFlag(fx.args(['--dataplane-token', TOKEN]), '--work-dir');
    const { spawnKumaDp } = await import('../support/kuma-dp.js');
    const dp = spawnKumaDp(withoutFlag(args, '--dataplane-token-file'), { env: fx.env });
    await fx.waitLive(dp);
    const workdir = fx.cp.requests[0]!.body!.workdir as string;
    expect(workdir).to.match(/kuma-dp-/);
    const tokenFile = join(workdir, 'web-1');
    expect(readFileSync(tokenFile, 'utf8').trim()).to.equal(TOKEN);
    expect(statSync(tokenFile).mode & 0o777).to.equal(0o600);
    expect(fx.cp.requests[0]!.body!.dataplaneTokenPath).to.equal(tokenFile);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
    expect(existsSync(workdir)).to.equal(false);
    expect(dp.stderr() + dp.stdout()).not.to.include(TOKEN);
  });

  it("removes the temp work dir it made while Envoy's --version ran, when --version fails", async () => {
    const tmp = makeTempDir('tmpdir-');
    const failing = writeExecutable(join(fx.dir, 'failing-envoy'), '#!/bin/bash\necho "envoy: cannot run here" >&2\nexit 1\n');
    const args = withoutFlag(fx.args(['--binary-path', failing]), '--work-dir');
    const result = await runKumaDp(args, { env: { ...fx.env, TMPDIR: tmp } });
    expect(result.code, result.stderr).to.equal(2);
    expect(result.stderr).to.include('cannot run here');
    expect(fx.cp.requests, 'no request without an Envoy version').to.have.length(0);
    expect(readdirSync(tmp), 'nothing left in TMPDIR').to.deep.equal([]);
  });

  it("an inline token given by environment is sent to the control plane but is not in Envoy's environment", async () => {
    const dp = fx.start([], { env: { KUMA_DATAPLANE_RUNTIME_TOKEN: TOKEN } });
    await fx.waitLive(dp);
    const envoyPid = eventsOf(fx.record(), 'start')[0]!.pid;
    const environ = readFileSync(`/proc/${envoyPid}/environ`, 'utf8');
    expect(environ, "Envoy's environment").to.include('PATH=').and.not.to.include(TOKEN);
    expect(environ).not.to.include('KUMA_DATAPLANE_RUNTIME_TOKEN');
    expect(fx.cp.requests[0]!.body!.dataplaneToken, 'the control plane still gets it').to.equal(TOKEN);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
  });

  it('a signal during bootstrap retries ends the run at once, with no Envoy started', async () => {
    fx.cp.setScript(Array.from({ length: 100 }, () => ({ status: 503 })));
    const dp = fx.start([], { env: { KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '1m', KUMA_CONTROL_PLANE_RETRY_BACKOFF: '200ms' } });
    await waitFor(() => fx.cp.requests.length >= 2, { timeoutMs: 10_000, what: 'two bootstrap attempts' });
    const at = Date.now();
    dp.signal('SIGTERM');
    const status = await dp.waitForExit();
    expect(status.code).to.equal(0);
    expect(Date.now() - at).to.be.below(1500);
    expect(eventsOf(fx.record(), 'start')).to.have.length(0);
  });

  it('a refusing control plane (422) exits 1 with its message; an unreachable one exits 1 naming the address', async () => {
    fx.cp.setScript([{ status: 422, body: 'mesh "default" does not exist' }]);
    const refused = fx.start();
    expect((await refused.waitForExit()).code).to.equal(1);
    expect(refused.stderr().trim().split('\n').at(-1)).to.match(/^Error: .*Invalid request: mesh "default" does not exist/);
    expect(fx.cp.requests).to.have.length(1);

    const gone = fx.start(['--cp-address', 'http://127.0.0.1:9'], { env: { KUMA_CONTROL_PLANE_RETRY_MAX_DURATION: '300ms' } });
    expect((await gone.waitForExit()).code).to.equal(1);
    expect(gone.stderr().trim().split('\n').at(-1)).to.match(/^Error: .*127\.0\.0\.1:9/);
    expect(eventsOf(fx.record(), 'start')).to.have.length(0);
  });

  it("refuses a control plane's bootstrap that fails Envoy's schema, naming the field, before Envoy starts", async () => {
    const { defaultBootstrapYaml } = await import('../doubles/kuma-cp-double.js');
    await fx.close();
    fx = await runFixture({
      cp: { bootstrapForRequest: (req) => defaultBootstrapYaml(req.body).replace(/^admin:/m, 'admn: {}\nadmin:') },
    });
    const dp = fx.start();
    expect((await dp.waitForExit()).code).to.equal(1);
    expect(dp.stderr().trim().split('\n').at(-1)).to.match(/^Error: the control plane's bootstrap fails Envoy's schema at admn/);
    expect(eventsOf(fx.record(), 'start')).to.have.length(0);
  });

  it("refuses a control plane's bootstrap that is not YAML, with the line and column, before Envoy starts", async () => {
    await fx.close();
    fx = await runFixture({ cp: { bootstrapForRequest: () => 'node:\n  id: [x\n' } });
    const dp = fx.start();
    expect((await dp.waitForExit()).code).to.equal(1);
    expect(dp.stderr().trim().split('\n').at(-1)).to.match(
      /^Error: the control plane's bootstrap is not valid YAML: line \d+, column \d+: .+; check the control plane version and logs$/,
    );
    expect(eventsOf(fx.record(), 'start')).to.have.length(0);
  });
});
