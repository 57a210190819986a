import { expect } from 'chai';
import { existsSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENVOY_DOUBLE_SCRIPT } from '../doubles/envoy-binary.js';
import { eventsOf } from '../doubles/envoy-record.js';
import { getReady, processGone, withTakenPort } from '../support/kuma-dp.js';
import { waitFor } from '../support/wait.js';
import { writeExecutable } from '../support/executable.js';
import { useRunFixture } from '../support/run-fixture.js';
import { packageCopy } from '../support/package-copy.js';

/** An Envoy behind a shell that starts it as a child instead of exec'ing it. */
const nonExecingWrapper = (dir: string): string => writeExecutable(join(dir, 'envoy-wrapper'), `#!/bin/sh\n"${process.execPath}" "${ENVOY_DOUBLE_SCRIPT}" "$@"\n`);

describe('kuma-dp run: Envoy behind wrappers and old tools', function () {
  const fixture = useRunFixture({ each: true });

  it('stops an Envoy started by a wrapper script that does not exec (signals go to its process group)', async () => {
    const fx = fixture();
    const wrapper = nonExecingWrapper(fx.dir);
    const dp = fx.start(['--binary-path', wrapper]);
    await fx.waitLive(dp);
    const envoyPid = eventsOf(fx.record(), 'start')[0]!.pid;
    dp.signal('SIGTERM');
    expect((await dp.waitForExit(15_000)).code).to.equal(0);
    await waitFor(() => processGone(envoyPid), { timeoutMs: 3000, what: 'the wrapped Envoy to be gone' });
  });

  it("behind a wrapper that does not exec, an Envoy ignoring SIGTERM is SIGKILLed 5 s later, and the wrapper's own end is not taken for Envoy's", async () => {
    const fx = fixture();
    const wrapper = nonExecingWrapper(fx.dir);
    const dp = fx.start(['--binary-path', wrapper], { env: { ENVOY_DOUBLE_IGNORE_SIGTERM: '1' } });
    await fx.waitLive(dp);
    const envoyPid = eventsOf(fx.record(), 'start')[0]!.pid;
    // SIGUSR1 kills the shell (its default action) but not Envoy: supervision must go on.
    dp.signal('SIGUSR1');
    await waitFor(() => eventsOf(fx.record(), 'signal').some((e) => e.signal === 'SIGUSR1'), { timeoutMs: 5000, what: 'Envoy to get SIGUSR1' });
    await waitFor(async () => (await getReady(fx.readinessPort)).status === 200, { timeoutMs: 5000, what: 'readiness still 200' });
    expect(dp.child.exitCode, 'kuma-dp still supervising').to.equal(null);
    expect(processGone(envoyPid)).to.equal(false);
    const at = Date.now();
    dp.signal('SIGTERM');
    expect((await dp.waitForExit(20_000)).code).to.equal(0);
    expect(Date.now() - at).to.be.within(4500, 15_000);
    await waitFor(() => processGone(envoyPid), { timeoutMs: 3000, what: 'the wrapped Envoy to be gone' });
  });

  it('runs Envoy unwrapped, with one warning, where setpriv has no --pdeathsig', async () => {
    const fx = fixture();
    const oldTools = join(fx.dir, 'old-util-linux');
    writeExecutable(join(oldTools, 'setpriv'), "#!/bin/sh\necho \"setpriv: unrecognized option '--pdeathsig'\" >&2\nexit 1\n");
    const dp = fx.start([], { env: { PATH: `${oldTools}:${process.env.PATH}` } });
    await fx.waitLive(dp);
    expect(dp.stderr().match(/does not support --pdeathsig/g)).to.have.length(1);
    dp.signal('SIGTERM');
    expect((await dp.waitForExit()).code).to.equal(0);
  });

  describe('a setpriv remembered as working that breaks in place (a library or seccomp policy changed, the file did not)', () => {
    /**
     * A package of the test's own, so that the bundle (and its memo) is always the one used, and
     * a setpriv that answers the probe until `broken` exists; then it fails as `how` says.
     */
    function setup(how: 'exits' | 'cannot-exec' | 'slow-probe') {
      const fx = fixture();
      const pkg = packageCopy();
      const tools = join(fx.dir, 'util-linux');
      const broken = join(fx.dir, 'setpriv-broken');
      const shell = join(fx.dir, 'sh');
      symlinkSync('/bin/sh', shell);
      // `cannot-exec`: its interpreter goes away, as when its loader or a library does (ENOENT at spawn).
      const probing = join(fx.dir, 'setpriv-probing');
      // `slow-probe`: once broken, its probe (`… -- setpriv --version`) says so and takes 2 s to fail.
      const slowProbe = how === 'slow-probe' ? `[ -e '${broken}' ] && [ "$5" = --version ] && { : > '${probing}'; sleep 2; exit 1; }\n` : '';
      writeExecutable(
        join(tools, 'setpriv'),
        `#!${shell}\n[ "$1" = --version ] && exit 0\n${slowProbe}[ -e '${broken}' ] && { echo 'setpriv: prctl(PR_SET_PDEATHSIG) failed' >&2; exit 1; }\nshift 3\nexec "$@"\n`,
      );
      const env = { PATH: `${tools}:${process.env.PATH}` };
      let lives = 0;
      const runLive = async (extra: string[] = [], exitWithinMs?: number) => {
        const dp = fx.start(extra, { bin: pkg.bin, env });
        await fx.waitLive(dp, ++lives);
        dp.signal('SIGTERM');
        expect(await dp.waitForExit(exitWithinMs), dp.stderr()).to.deep.include({ code: 0 });
        return dp.stderr();
      };
      const breakIt = () => (how === 'cannot-exec' ? rmSync(shell) : writeFileSync(broken, ''));
      const mendIt = () => (how === 'cannot-exec' ? symlinkSync('/bin/sh', shell) : rmSync(broken));
      return { fx, pkg, env, runLive, breakIt, mendIt, probing };
    }
    const unwrapped = /does not support --pdeathsig/g;

    it('an Envoy started through it fails: probed again before the restart, Envoy runs unwrapped; without restarts, the next kuma-dp probes', async () => {
      const { fx, pkg, env, runLive, breakIt, mendIt } = setup('exits');
      expect(await runLive(), 'probed, and remembered').not.to.match(unwrapped);
      breakIt();
      const restarted = await runLive(['--envoy-restart', 'on-failure', '--envoy-restart-backoff', '50ms']);
      expect(restarted, 'the remembered setpriv was taken at its word').to.match(/prctl\(PR_SET_PDEATHSIG\) failed/);
      expect(restarted.match(unwrapped), 'probed again before the restart').to.have.length(1);
      const next = await runLive();
      expect(next.match(unwrapped), 'the next kuma-dp probes').to.have.length(1);
      expect(next).not.to.match(/prctl/);

      mendIt();
      expect(await runLive(), 'remembered again').not.to.match(unwrapped);
      breakIt();
      const failed = fx.start(['--envoy-restart', 'never'], { bin: pkg.bin, env });
      expect((await failed.waitForExit()).code).to.equal(1);
      expect(failed.stderr()).to.match(/prctl\(PR_SET_PDEATHSIG\) failed/);
      expect((await runLive()).match(unwrapped), 'probed again').to.have.length(1);
    });

    it('a SIGTERM while it is probed again stops kuma-dp without starting another Envoy', async () => {
      const { fx, pkg, env, runLive, breakIt, probing } = setup('slow-probe');
      expect(await runLive(), 'probed, and remembered').not.to.match(unwrapped);
      breakIt();
      const dp = fx.start(['--envoy-restart', 'on-failure', '--envoy-restart-backoff', '50ms'], { bin: pkg.bin, env });
      await waitFor(() => existsSync(probing), { timeoutMs: 15_000, what: `the probe before the restart; stderr:\n${dp.stderr()}` });
      dp.signal('SIGTERM');
      expect((await dp.waitForExit()).code, dp.stderr()).to.equal(0);
      expect(dp.stderr().match(/starting Envoy/g), 'only the start that failed through setpriv').to.have.length(1);
    });

    it('it cannot even be spawned: probed again at once, and the same start runs Envoy unwrapped', async () => {
      const { runLive, breakIt } = setup('cannot-exec');
      expect(await runLive(), 'probed, and remembered').not.to.match(unwrapped);
      breakIt();
      // Within 3 s of SIGTERM: the failed probe's spawn holds no timer that delays the exit.
      const stderr = await runLive(['--envoy-restart', 'never'], 3000);
      expect(stderr).to.match(/could not start Envoy through setpriv; probing it again/);
      expect(stderr.match(unwrapped)).to.have.length(1);
    });
  });

  it('run --envoy-version on an empty cache installs that Envoy from the mirror, then runs it', async () => {
    const fx = fixture();
    const { Mirror } = await import('../support/mirror.js');
    const mirror = await Mirror.start();
    try {
      mirror.addRelease('1.34.1');
      const cache = join(fx.dir, 'cache');
      const args = fx.args(['--envoy-version', '1.34.1']);
      const binaryFlag = args.indexOf('--binary-path');
      args.splice(binaryFlag, 2);
      const { spawnKumaDp } = await import('../support/kuma-dp.js');
      const dp = spawnKumaDp(args, { env: { ...fx.env, KUMA_DP_CACHE_DIR: cache, KUMA_DP_ENVOY_DOWNLOAD_BASE_URL: mirror.baseUrl } });
      await fx.waitLive(dp);
      const argv = eventsOf(fx.record(), 'argv')[0]!;
      expect(argv.argv[0]).to.equal('--config-path');
      expect(dp.stderr()).to.match(/managed 1\.34\.1 \(--envoy-version 1\.34\.1, installed now\)/);
      expect(mirror.requests.filter((r) => r.path.endsWith('envoy-1.34.1-linux-x86_64') || r.path.endsWith('envoy-1.34.1-linux-aarch_64'))).to.have.length(1);
      dp.signal('SIGTERM');
      expect((await dp.waitForExit()).code).to.equal(0);
    } finally {
      await mirror.close();
    }
  });

  it('a taken readiness port exits 2 with one line before any request to the control plane', async () => {
    const fx = fixture();
    await withTakenPort(fx.readinessPort, async () => {
      const dp = fx.start();
      expect((await dp.waitForExit()).code).to.equal(2);
      expect(dp.stderr().trim().split('\n').at(-1)).to.match(new RegExp(`^Error: readiness port ${fx.readinessPort} is already in use.*KUMA_READINESS_PORT`));
      expect(fx.cp.requests).to.have.length(0);
      expect(eventsOf(fx.record(), 'start')).to.have.length(0);
    });
  });

  it('a bad template and a taken readiness port: the template is reported, as the first problem found', async () => {
    const fx = fixture();
    await withTakenPort(fx.readinessPort, async () => {
      const dp = fx.start(['--dataplane-file', join(fx.dir, 'no-such-template.yaml')]);
      expect((await dp.waitForExit()).code).to.equal(2);
      const errors = dp.stderr().split('\n').filter((line) => line.startsWith('Error: '));
      expect(errors).to.have.length(1);
      expect(errors[0]).to.match(/could not read the Dataplane template .*no-such-template\.yaml/);
      expect(fx.cp.requests).to.have.length(0);
    });
  });
});
