import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { selfSignedCertificate } from '../../scripts/dev-cp/self-signed.js';
import { ConnectProxy } from '../support/connect-proxy.js';
import { baseEnv, runKumaDp, spawnKumaDp } from '../support/kuma-dp.js';
import { Mirror } from '../support/mirror.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';

/** The cache of one test and the env that points kuma-dp at it and at the mirror. */
function setup(mirror: Mirror, extra: Record<string, string> = {}) {
  const cache = makeTempDir('kdp-cli-cache');
  const env = baseEnv({
    KUMA_DP_CACHE_DIR: cache,
    KUMA_DP_ENVOY_DOWNLOAD_BASE_URL: mirror.baseUrl,
    KUMA_DP_DOWNLOAD_RETRIES: '0',
    KUMA_DP_DOWNLOAD_IDLE_TIMEOUT: '5s',
    ...extra,
  });
  return { cache, env, envoyDir: join(cache, 'envoy') };
}

/** Nothing where `run` would look, no staging leftovers, no lock. */
function expectNothingInstalled(envoyDir: string, version: string): void {
  expect(existsSync(join(envoyDir, version)), 'version dir').to.equal(false);
  for (const dir of ['.tmp', '.locks']) {
    expect(existsSync(join(envoyDir, dir)) ? readdirSync(join(envoyDir, dir)) : [], dir).to.deep.equal([]);
  }
}

function oneErrorLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l.startsWith('Error: '));
  expect(lines, stderr).to.have.length(1);
  return lines[0]!;
}

describe('kuma-dp envoy (CLI)', function () {
  this.timeout(20_000);
  let mirror: Mirror;

  before(async () => {
    mirror = await Mirror.start();
    mirror.addRelease('1.34.1').addRelease('1.34.2').addIndexRelease('1.9.9', 'xz').addIndexRelease('1.9.10', 'gz');
  });
  after(async () => {
    await mirror.close();
    cleanupTempDirs();
  });

  it('install prints the path; which and list agree; a second install downloads nothing; remove removes', async () => {
    const { env, envoyDir } = setup(mirror);
    const installed = await runKumaDp(['envoy', 'install', '1.34.1'], { env });
    expect(installed.code, installed.stderr).to.equal(0);
    const path = join(envoyDir, '1.34.1', 'bin', 'envoy');
    expect(installed.stdout).to.equal(`${path}\n`);
    expect(installed.stderr).to.match(/installed Envoy\tversion=1\.34\.1/);
    expect(statSync(path).mode & 0o777).to.equal(0o755);
    expect(statSync(join(envoyDir, '1.34.1')).mode & 0o777).to.equal(0o755);
    expect(execFileSync(path, ['--version']).toString()).to.include('/1.34.1/Clean/RELEASE/BoringSSL');

    const withIndex = { ...env, KUMA_DP_ENVOY_VERSIONS_URL: mirror.indexUrl };
    const latest = await runKumaDp(['envoy', 'install', 'latest'], { env: withIndex });
    expect(latest.stdout, latest.stderr).to.equal(`${join(envoyDir, '1.9.10', 'bin', 'envoy')}\n`);

    const requests = mirror.requests.length;
    const again = await runKumaDp(['envoy', 'install'], { env: { ...env, KUMA_DATAPLANE_RUNTIME_ENVOY_VERSION: '1.34.1' } });
    expect(again.code).to.equal(0);
    expect(again.stdout).to.equal(`${path}\n`);
    expect(again.stderr).to.match(/Envoy is already installed/);
    expect(mirror.requests.length, 'no request for an installed version').to.equal(requests);

    const which = await runKumaDp(['envoy', 'which', '1.34'], { env });
    expect(which.stdout).to.equal(`${path}\n`);
    // No envoy on PATH, in the cwd or next to kuma-dp: run would take the newest managed one.
    const cwd = makeTempDir('kdp-cli-cwd');
    const noPath = { ...env, PATH: '/nonexistent' };
    const list = await runKumaDp(['envoy', 'list'], { env: noPath, cwd });
    expect(list.code).to.equal(0);
    const older = join(envoyDir, '1.9.10', 'bin', 'envoy');
    expect(list.stdout).to.equal(`* 1.34.1    ${path}\n  1.9.10    ${older}\n`);
    const pinned = await runKumaDp(['envoy', 'list', '--envoy-version', '1.9'], { env: noPath, cwd });
    expect(pinned.stdout).to.equal(`  1.34.1    ${path}\n* 1.9.10    ${older}\n`);

    // Download settings have nothing to do with a removal: a bad one does not stop it.
    const removed = await runKumaDp(['envoy', 'remove', '1.34.1'], { env: { ...env, KUMA_DP_DOWNLOAD_RETRIES: 'many' } });
    expect(removed.code, removed.stderr).to.equal(0);
    const whichNow = await runKumaDp(['envoy', 'which'], { env: noPath, cwd });
    expect(whichNow.stdout).to.equal(`${older}\n`);
  });

  it('bad input exits 2 with one line: malformed version, version needing an index, unwritable cache dir', async () => {
    const { env } = setup(mirror);
    const malformed = await runKumaDp(['envoy', 'install', '1.x'], { env });
    expect(malformed.code).to.equal(2);
    expect(oneErrorLine(malformed.stderr)).to.equal('Error: "1.x" is not an Envoy version; use X.Y.Z (e.g. 1.34.1), X.Y for its newest patch (1.34), or latest');

    const minor = await runKumaDp(['envoy', 'install', '1.34'], { env });
    expect(minor.code).to.equal(2);
    expect(oneErrorLine(minor.stderr)).to.include('"1.34" can only be resolved with a versions index').and.include('--envoy-versions-url');

    const file = join(makeTempDir('kdp-cli-file'), 'file');
    writeFileSync(file, '');
    const unwritable = await runKumaDp(['envoy', 'install', '1.34.1'], { env: { ...env, KUMA_DP_CACHE_DIR: join(file, 'cache') } });
    expect(unwritable.code).to.equal(2);
    expect(oneErrorLine(unwritable.stderr)).to.include(`cannot write the Envoy cache dir ${join(file, 'cache')}: not a directory (ENOTDIR)`);
  });

  it('a checksum mismatch exits non-zero with one line and leaves nothing where run would look', async () => {
    const { env, envoyDir } = setup(mirror);
    mirror.setFault(mirror.releasePath('1.34.2'), { kind: 'corrupt' });
    try {
      const result = await runKumaDp(['envoy', 'install', '1.34.2'], { env });
      expect(result.code).to.equal(1);
      expect(oneErrorLine(result.stderr)).to.match(/checksum mismatch .* expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/);
      expectNothingInstalled(envoyDir, '1.34.2');
      const which = await runKumaDp(['envoy', 'which', '1.34.2'], { env });
      expect(which.code).to.equal(2);
    } finally {
      mirror.setFault(mirror.releasePath('1.34.2'), undefined);
    }
  });

  it('two concurrent installs both succeed and download once', async () => {
    const { env, envoyDir } = setup(mirror);
    const path = mirror.releasePath('1.34.2');
    mirror.setFault(path, { kind: 'hold' });
    try {
      const before = mirror.hits(path);
      const procs = [spawnKumaDp(['envoy', 'install', '1.34.2'], { env }), spawnKumaDp(['envoy', 'install', '1.34.2'], { env })];
      // The download is held until it has started and the other install says it waits for it.
      await waitFor(() => mirror.hits(path) === before + 1 && procs.some((p) => p.stderr().includes('waiting for another kuma-dp')), {
        timeoutMs: 10_000,
        what: 'one download under way and the other install waiting',
      });
      mirror.release(path);
      const results = await Promise.all(procs.map((p) => p.waitForExit(15_000)));
      for (const [i, result] of results.entries()) expect(result.code, procs[i]!.stderr()).to.equal(0);
      expect(procs.map((p) => p.stdout())).to.deep.equal([1, 2].map(() => `${join(envoyDir, '1.34.2', 'bin', 'envoy')}\n`));
      expect(mirror.hits(path), 'one download').to.equal(before + 1);
      expect(procs.map((p) => p.stderr()).join('\n')).to.include('waiting for another kuma-dp installing the same Envoy');
      expect(readdirSync(join(envoyDir, '.tmp'))).to.deep.equal([]);
      expect(readdirSync(join(envoyDir, '.locks'))).to.deep.equal([]);
    } finally {
      mirror.setFault(path, undefined);
    }
  });

  it('SIGINT or SIGTERM during a download exits 130 or 143 and removes its temp files and lock', async () => {
    const path = mirror.releasePath('1.34.2');
    mirror.setFault(path, { kind: 'stall', afterBytes: 30_000 });
    try {
      for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
        await interruptedDownload(signal, code);
      }
    } finally {
      mirror.setFault(path, undefined);
    }
  });

  async function interruptedDownload(signal: NodeJS.Signals, code: number): Promise<void> {
    const { env, envoyDir } = setup(mirror);
    const proc = spawnKumaDp(['envoy', 'install', '1.34.2'], { env });
    await waitFor(
      () => {
        const staging = existsSync(join(envoyDir, '.tmp')) ? readdirSync(join(envoyDir, '.tmp')) : [];
        const file = staging[0] && join(envoyDir, '.tmp', staging[0], 'bin', 'envoy');
        return file && existsSync(file) && statSync(file).size === 30_000;
      },
      { timeoutMs: 10_000, what: 'a partial download in the staging dir' },
    );
    proc.signal(signal);
    const status = await proc.waitForExit(5000);
    expect(status.code, proc.stderr()).to.equal(code);
    expect(oneErrorLine(proc.stderr())).to.equal(`Error: interrupted by ${signal}; nothing was installed`);
    expectNothingInstalled(envoyDir, '1.34.2');
  }

  it('goes through HTTP_PROXY (forwarding) and HTTPS_PROXY (CONNECT), and not for NO_PROXY hosts', async () => {
    const proxy = await ConnectProxy.start();
    const tls = selfSignedCertificate(makeTempDir('kdp-cli-tls'));
    const secure = await Mirror.start(tls);
    secure.addRelease('1.34.1');
    try {
      const plain = setup(mirror, { HTTP_PROXY: proxy.url });
      const viaForward = await runKumaDp(['envoy', 'install', '1.34.1'], { env: plain.env });
      expect(viaForward.code, viaForward.stderr).to.equal(0);
      expect(proxy.requests).to.deep.include({ method: 'GET', target: `${mirror.origin}${mirror.releasePath('1.34.1')}` });
      expect(proxy.requests).to.deep.include({ method: 'GET', target: `${mirror.baseUrl}/v1.34.1/checksums.txt.asc` });

      const seen = proxy.requests.length;
      const bypass = setup(mirror, { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
      const direct = await runKumaDp(['envoy', 'install', '1.34.1'], { env: bypass.env });
      expect(direct.code, direct.stderr).to.equal(0);
      expect(proxy.requests.length, 'NO_PROXY bypasses the proxy').to.equal(seen);

      const https = setup(secure, { HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: tls.certPath, NODE_NO_WARNINGS: '1' });
      const viaConnect = await runKumaDp(['envoy', 'install', '1.34.1'], { env: https.env });
      expect(viaConnect.code, viaConnect.stderr).to.equal(0);
      expect(proxy.requests).to.deep.include({ method: 'CONNECT', target: new URL(secure.origin).host });
      expect(secure.hits(secure.releasePath('1.34.1'))).to.equal(1);
    } finally {
      await secure.close();
      await proxy.close();
    }
  });
});
