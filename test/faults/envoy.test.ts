import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { eventsOf } from '../doubles/envoy-record.js';
import { processGone, spawnKumaDp } from '../support/kuma-dp.js';
import { Mirror } from '../support/mirror.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

describe('faults: Envoy and its files', function () {
  this.timeout(30_000);
  let fx: RunFixture;
  afterEach(() => fx?.close());
  after(cleanupTempDirs);

  it('an Envoy that ignores SIGTERM is SIGKILLed 5 s later; kuma-dp still exits 0', async () => {
    fx = await runFixture({ envoyEnv: { ENVOY_DOUBLE_IGNORE_SIGTERM: '1' } });
    const dp = fx.start();
    await fx.waitLive(dp);
    const envoy = eventsOf(fx.record(), 'start')[0]!.pid;
    dp.signal('SIGTERM');
    await waitFor(() => eventsOf(fx.record(), 'signal').some((e) => e.signal === 'SIGTERM'), { timeoutMs: 10_000, what: 'SIGTERM to Envoy' });
    const termAt = eventsOf(fx.record(), 'signal').find((e) => e.signal === 'SIGTERM')!.t;
    const status = await dp.waitForExit(15_000);
    const exitAt = Date.now();
    expect(status.code, dp.stderr()).to.equal(0);
    expect(exitAt - termAt, 'the grace between SIGTERM and SIGKILL').to.be.within(4500, 9000);
    expect(dp.stderr()).to.match(/Envoy did not exit after SIGTERM; killing it/);
    expect(processGone(envoy), 'Envoy is gone').to.equal(true);
  });

  it('a pid file that cannot be written (a directory in its place): a warning, and supervision goes on (exit 0)', async () => {
    fx = await runFixture();
    mkdirSync(join(fx.workDir, 'envoy.pid'), { recursive: true });
    const dp = fx.start();
    await fx.waitLive(dp);
    await dp.waitForStderr(/Envoy is live/);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
    expect(dp.stderr()).to.match(/could not update the Envoy pid file/);
    expect(processGone(eventsOf(fx.record(), 'start')[0]!.pid)).to.equal(true);
  });

  it('SIGTERM while `run --envoy-version` downloads Envoy: exit 0 at once, nothing installed, no Envoy started', async () => {
    const mirror = await Mirror.start();
    try {
      mirror.addRelease('1.34.1', { padBytes: 1 << 20 });
      mirror.setFault(mirror.releasePath('1.34.1'), { kind: 'stall', afterBytes: 100_000 });
      fx = await runFixture();
      const cache = makeTempDir('kuma-dp-fault-cache');
      const envoyDir = join(cache, 'envoy');
      // Without --binary-path the managed --envoy-version is what run looks for (DESIGN §5).
      const args = fx.args(['--envoy-version', '1.34.1']);
      args.splice(args.indexOf('--binary-path'), 2);
      const dp = spawnKumaDp(args, { env: { ...fx.env, KUMA_DP_CACHE_DIR: cache, KUMA_DP_ENVOY_DOWNLOAD_BASE_URL: mirror.baseUrl } });
      await waitFor(
        () => {
          const staging = existsSync(join(envoyDir, '.tmp')) ? readdirSync(join(envoyDir, '.tmp')) : [];
          const file = staging[0] && join(envoyDir, '.tmp', staging[0], 'bin', 'envoy');
          return file && existsSync(file) && statSync(file).size === 100_000;
        },
        { timeoutMs: 15_000, what: `a partial download in the staging dir; stderr:\n${dp.stderr()}` },
      );
      const signalled = Date.now();
      dp.signal('SIGTERM');
      const status = await dp.waitForExit(5000);
      expect(status.code, dp.stderr()).to.equal(0);
      expect(Date.now() - signalled, 'at once, not after a timeout').to.be.below(2000);
      expect(existsSync(join(envoyDir, '1.34.1')), 'nothing where run looks').to.equal(false);
      for (const dir of ['.tmp', '.locks']) {
        expect(existsSync(join(envoyDir, dir)) ? readdirSync(join(envoyDir, dir)) : [], dir).to.deep.equal([]);
      }
      expect(fx.cp.requests, 'no bootstrap request').to.have.length(0);
      expect(eventsOf(fx.record(), 'start'), 'no Envoy').to.have.length(0);
    } finally {
      await mirror.close();
    }
  });
});
