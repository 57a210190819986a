import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { eventsOf } from '../doubles/envoy-record.js';
import { KUMA_DP_BIN, baseEnv, processGone, runKumaDp } from '../support/kuma-dp.js';
import { Mirror } from '../support/mirror.js';
import { runFixture, type RunFixture } from '../support/run-fixture.js';
import { cleanupTempDirs } from '../support/tmp.js';
import { waitFor, waitForExit } from '../support/wait.js';
import { mountTmpfs, type Tmpfs } from './mounts.js';

/** The `Error: ` lines of a run; DESIGN §3 wants exactly one before a non-zero exit. */
function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('Error: '));
}

describe('faults: disk full and read-only filesystems', function () {
  this.timeout(30_000);
  let fx: RunFixture;
  const mounts: Tmpfs[] = [];
  /** A tmpfs for this test, or a skip where this host does not let us mount one. */
  const tmpfs = (ctx: Mocha.Context, options: Parameters<typeof mountTmpfs>[0]): Tmpfs => {
    const fs = mountTmpfs(options);
    if (!fs) ctx.skip();
    mounts.push(fs!);
    return fs!;
  };

  beforeEach(async () => {
    fx = await runFixture();
  });
  afterEach(async () => {
    for (const fs of mounts.splice(0)) fs.unmount();
    await fx.close();
  });
  after(cleanupTempDirs);

  it('a work dir that cannot be created (below a regular file): exit 2, one line naming it, nothing started', async () => {
    writeFileSync(join(fx.dir, 'a-file'), '');
    const workDir = join(fx.dir, 'a-file', 'work');
    const result = await runKumaDp(fx.args(['--work-dir', workDir]), { env: fx.env });
    expect(result.code, result.stderr).to.equal(2);
    expect(errorLines(result.stderr)).to.have.length(1);
    expect(errorLines(result.stderr)[0]).to.include(workDir).and.match(/--work-dir/);
    expect(fx.cp.requests, 'no bootstrap request').to.have.length(0);
    expect(eventsOf(fx.record(), 'start'), 'no Envoy').to.have.length(0);
  });

  it('an existing work dir on a read-only filesystem: exit 2, one line saying read-only', async function () {
    const fs = tmpfs(this, { sizeKb: 64, readOnly: true, prepare: (path) => mkdirSync(join(path, 'work')) });
    const result = await runKumaDp(fx.args(['--work-dir', join(fs.path, 'work')]), { env: fx.env });
    expect(result.code, result.stderr).to.equal(2);
    expect(errorLines(result.stderr)).to.have.length(1);
    expect(errorLines(result.stderr)[0]).to.include(join(fs.path, 'work')).and.match(/EROFS|read-only/i);
    expect(eventsOf(fx.record(), 'start'), 'no Envoy').to.have.length(0);
  });

  it('a work dir to be created on a read-only filesystem: exit 2, one line saying read-only (not ENOENT)', async function () {
    const fs = tmpfs(this, { sizeKb: 64, readOnly: true });
    const workDir = join(fs.path, 'work');
    const result = await runKumaDp(fx.args(['--work-dir', workDir]), { env: fx.env });
    expect(result.code, result.stderr).to.equal(2);
    expect(errorLines(result.stderr)).to.have.length(1);
    // Node's recursive mkdir reports EROFS as ENOENT; the operator must still be told the truth.
    expect(errorLines(result.stderr)[0]).to.include(workDir).and.match(/EROFS|read-only/i);
  });

  it('a full work dir: exit 1 with one line naming bootstrap.yaml and the full disk, no Envoy started', async function () {
    const fs = tmpfs(this, { sizeKb: 64, prepare: (path) => mkdirSync(join(path, 'work')) });
    fs.fill();
    const workDir = join(fs.path, 'work');
    const result = await runKumaDp(fx.args(['--work-dir', workDir]), { env: fx.env });
    expect(result.code, result.stderr).to.equal(1);
    expect(errorLines(result.stderr)).to.have.length(1);
    const line = errorLines(result.stderr)[0]!;
    expect(line).to.match(/no space left on device|ENOSPC/i);
    expect(line, 'says which file could not be written').to.include(join(workDir, 'bootstrap.yaml'));
    expect(eventsOf(fx.record(), 'start'), 'no Envoy').to.have.length(0);
    expect(readdirSync(workDir).filter((name) => name.endsWith('.tmp')), 'no temp file left').to.deep.equal([]);
  });

  for (const stream of ['stdout', 'stderr'] as const) {
    it(`kuma-dp's ${stream} on a full disk: what cannot be written is lost, supervision and the drain go on (exit 0)`, async function () {
      const fs = tmpfs(this, { sizeKb: 64 });
      fs.fill();
      const fd = openSync(join(fs.path, `${stream}.log`), 'a');
      const child = spawn(process.execPath, [KUMA_DP_BIN, ...fx.args()], {
        env: { ...fx.env, ENVOY_DOUBLE_FLOOD_LINES: '20000' },
        stdio: stream === 'stdout' ? ['ignore', fd, 'pipe'] : ['ignore', 'pipe', fd],
      });
      closeSync(fd);
      let other = '';
      (stream === 'stdout' ? child.stderr! : child.stdout!).on('data', (chunk: Buffer) => (other += chunk.toString()));
      try {
        await waitFor(() => eventsOf(fx.record(), 'flood').length > 0 && eventsOf(fx.record(), 'live').length > 0, {
          timeoutMs: 20_000,
          what: `the flood, with kuma-dp's ${stream} on a full disk; other stream:\n${other}`,
        });
        expect(child.exitCode, 'kuma-dp still running after the flood').to.equal(null);
        child.kill('SIGTERM');
        expect((await waitForExit(child, 15_000)).code, other).to.equal(0);
      } finally {
        child.kill('SIGKILL');
      }
      const envoy = eventsOf(fx.record(), 'start')[0]!.pid;
      expect(processGone(envoy), 'Envoy stopped').to.equal(true);
      expect(eventsOf(fx.record(), 'signal').map((e) => e.signal), 'Envoy was drained and stopped by us').to.include('SIGTERM');
      if (stream === 'stdout') {
        expect(other.match(/cannot write Envoy's output/g), "told once that Envoy's output is lost").to.have.length(1);
      } else {
        expect(other, "Envoy's lines still reach stdout").to.include('flood 000020000');
      }
    });
  }

  describe('envoy install', function () {
    let mirror: Mirror;
    before(async () => {
      mirror = await Mirror.start();
      mirror.addRelease('1.34.1', { padBytes: 1 << 20 });
    });
    after(() => mirror.close());

    const install = (cache: string) =>
      runKumaDp(['envoy', 'install', '1.34.1'], {
        env: baseEnv({ KUMA_DP_CACHE_DIR: cache, KUMA_DP_ENVOY_DOWNLOAD_BASE_URL: mirror.baseUrl }),
        timeoutMs: 25_000,
      });

    it('into a cache on a full disk: fails at once (a full disk is no network error), exit 1, one line, nothing installed', async function () {
      const fs = tmpfs(this, { sizeKb: 256 });
      const cache = join(fs.path, 'cache');
      const started = Date.now();
      const result = await install(cache);
      expect(result.code, result.stderr).to.equal(1);
      expect(errorLines(result.stderr)).to.have.length(1);
      const line = errorLines(result.stderr)[0]!;
      expect(line).to.match(/no space left on device|ENOSPC/i).and.to.include(cache);
      expect(line, 'no network hint for a local disk problem').not.to.match(/HTTPS_PROXY|check the network/);
      expect(result.stderr, 'not retried like a network error').not.to.match(/download failed, retrying/);
      expect(Date.now() - started).to.be.below(5000);
      expect(existsSync(join(cache, 'envoy', '1.34.1')), 'nothing where run looks').to.equal(false);
      const staging = join(cache, 'envoy', '.tmp');
      expect(existsSync(staging) ? readdirSync(staging) : [], 'no staging leftovers').to.deep.equal([]);
    });

    it('into a cache on a read-only filesystem: exit 2, one line saying read-only', async function () {
      const fs = tmpfs(this, { sizeKb: 64, readOnly: true });
      const cache = join(fs.path, 'cache');
      const result = await install(cache);
      expect(result.code, result.stderr).to.equal(2);
      expect(errorLines(result.stderr)).to.have.length(1);
      expect(errorLines(result.stderr)[0]).to.include(cache).and.match(/EROFS|read-only/i);
    });
  });
});
