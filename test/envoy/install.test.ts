import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { extractEnvoyBinary } from '../../src/envoy/install/archive.js';
import { downloadFile } from '../../src/envoy/install/http.js';
import { listManaged, lockPath, managedBinary, stagingRoot, versionDir } from '../../src/envoy/install/cache.js';
import { clearSignedBody, parseSha256Sums } from '../../src/envoy/install/checksums.js';
import { installEnvoy, type InstallRequest } from '../../src/envoy/install/installer.js';
import { acquireLock } from '../../src/envoy/install/lock.js';
import { cacheDirFromEnv, DEFAULT_DOWNLOAD_BASE_URL, resolveInstallOptions, type InstallSettings } from '../../src/envoy/install/options.js';
import { envoyPlatform } from '../../src/envoy/install/platform.js';
import { removeEnvoy } from '../../src/envoy/install/remove.js';
import { newestFirst, parseVersionSpec, pickNewest } from '../../src/envoy/install/version-spec.js';
import { indexReleases } from '../../src/envoy/install/versions-index.js';
import { ConfigError, KumaDpError } from '../../src/errors.js';
import { Logger } from '../../src/logging/logger.js';
import { createProgress } from '../../src/envoy/install/progress.js';
import { clearSigned, envoyTarball, fakeEnvoy, Mirror, tarball, withoutProxyEnv } from '../support/mirror.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { waitFor } from '../support/wait.js';
import { rejectionOf } from '../support/errors.js';

const rejection = (promise: Promise<unknown>) => rejectionOf(promise, KumaDpError);

const logger = Logger.silent();

/** Fast timeouts and no retries unless a test asks for them. */
const TEST_ENV = {
  KUMA_DP_DOWNLOAD_RETRIES: '0',
  KUMA_DP_DOWNLOAD_RETRY_BACKOFF: '10ms',
  KUMA_DP_DOWNLOAD_IDLE_TIMEOUT: '300ms',
  KUMA_DP_DOWNLOAD_CONNECT_TIMEOUT: '2s',
};

/** Nothing where `run` would look, no staging leftovers, no lock. */
function expectNothingInstalled(cacheDir: string, version: string): void {
  expect(existsSync(versionDir(cacheDir, version)), 'version dir').to.equal(false);
  const staging = stagingRoot(cacheDir);
  expect(existsSync(staging) ? readdirSync(staging) : [], 'staging dir').to.deep.equal([]);
  expect(existsSync(lockPath(cacheDir, version)), 'lock').to.equal(false);
}

function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  return child.pid!;
}

describe('envoy install: pure parts', () => {
  it('parses version specs and orders versions by semver, not as strings', () => {
    expect(parseVersionSpec('1.34.1')).to.deep.equal({ kind: 'exact', version: '1.34.1' });
    expect(parseVersionSpec('v1.34.1')).to.deep.equal({ kind: 'exact', version: '1.34.1' });
    expect(parseVersionSpec('1.34')).to.deep.equal({ kind: 'minor', major: 1, minor: 34 });
    expect(parseVersionSpec('latest')).to.deep.equal({ kind: 'latest' });
    for (const bad of ['1', '1.x', '1.34.1.2', '01.2.3', 'newest', '1.34.1-dev', '']) expect(parseVersionSpec(bad), bad).to.equal(undefined);
    expect(newestFirst(['1.9.9', '1.10.0', '1.9.10', '1.9.10_debug', '0.9.99'])).to.deep.equal(['1.10.0', '1.9.10', '1.9.9', '0.9.99']);
    expect(pickNewest(['1.9.9', '1.9.10', '1.10.1'], parseVersionSpec('1.9')!)).to.equal('1.9.10');
    expect(pickNewest(['1.9.9'], parseVersionSpec('1.8')!)).to.equal(undefined);
  });

  it('reads sha256 lines out of a clear-signed checksums.txt.asc, undoing dash-escaping', () => {
    const sum = 'a'.repeat(64);
    const text = clearSigned([`${sum}  envoy-1.34.1-linux-x86_64`, `${'B'.repeat(64)} *dist/envoy-1.34.1-linux-aarch_64`, '-- not a sum']);
    expect(text).to.include('- -- not a sum');
    expect(clearSignedBody(text).split('\n')).to.include('-- not a sum');
    expect(clearSignedBody(text)).not.to.include('BEGIN PGP');
    const sums = parseSha256Sums(text);
    expect(sums.get('envoy-1.34.1-linux-x86_64')).to.equal(sum);
    expect(sums.get('envoy-1.34.1-linux-aarch_64')).to.equal('b'.repeat(64));
    expect(sums.size).to.equal(2);
  });

  it('maps platforms to Envoy release names and refuses the others with exit 2', () => {
    expect(envoyPlatform('linux', 'x64')).to.deep.equal({ indexKey: 'linux/amd64', releaseArch: 'x86_64' });
    expect(envoyPlatform('linux', 'arm64')).to.deep.equal({ indexKey: 'linux/arm64', releaseArch: 'aarch_64' });
    expect(envoyPlatform('darwin', 'arm64')).to.deep.equal({ indexKey: 'darwin/arm64' });
    for (const [os, arch] of [['win32', 'x64'], ['linux', 'ia32'], ['freebsd', 'x64']] as const) {
      const err = (() => {
        try {
          envoyPlatform(os, arch);
        } catch (e) {
          return e as ConfigError;
        }
        throw new Error('no error');
      })();
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.exitCode).to.equal(2);
      expect(err.line).to.include(`${os}/${arch}`).and.include('--binary-path');
    }
  });

  it('resolves install options flag > env > default and reports every problem', () => {
    const env = { KUMA_DP_CACHE_DIR: '/c', KUMA_DP_ENVOY_DOWNLOAD_BASE_URL: 'http://env.example/dl/', KUMA_DATAPLANE_RUNTIME_ENVOY_VERSION: '1.33' };
    const fromEnv = resolveInstallOptions({}, env);
    expect(fromEnv.problems).to.deep.equal([]);
    expect(fromEnv.settings).to.include({ cacheDir: '/c', downloadBaseUrl: 'http://env.example/dl', envoyVersion: '1.33' });
    expect(fromEnv.settings.versionsUrl).to.equal(undefined);
    const fromFlags = resolveInstallOptions({ downloadBaseUrl: 'https://flag.example', envoyVersion: 'v1.34.1', envoyVersionsUrl: 'https://i.example/v.json' }, env);
    expect(fromFlags.settings).to.include({ downloadBaseUrl: 'https://flag.example', envoyVersion: '1.34.1', versionsUrl: 'https://i.example/v.json' });
    expect(resolveInstallOptions({}, {}).settings.downloadBaseUrl).to.equal(DEFAULT_DOWNLOAD_BASE_URL);
    expect(resolveInstallOptions({}, {}).settings.download).to.deep.equal({ connectTimeoutMs: 30_000, idleTimeoutMs: 60_000, retries: 3, retryBackoffMs: 1000 });

    const bad = resolveInstallOptions(
      { envoyVersion: '1.x', envoyVersionsUrl: 'ftp://x' },
      { KUMA_DP_ENVOY_DOWNLOAD_BASE_URL: 'not a url', KUMA_DP_DOWNLOAD_IDLE_TIMEOUT: '5', KUMA_DP_DOWNLOAD_RETRIES: '-1' },
    );
    expect(bad.problems).to.have.length(5);
    expect(bad.problems.join('\n')).to.include('--envoy-version "1.x"').and.include('KUMA_DP_ENVOY_DOWNLOAD_BASE_URL').and.include('--envoy-versions-url');
    expect(bad.problems.join('\n')).to.include('KUMA_DP_DOWNLOAD_IDLE_TIMEOUT').and.include('KUMA_DP_DOWNLOAD_RETRIES');
    expect(bad.problems).to.include('KUMA_DP_DOWNLOAD_RETRIES must be a whole number, got "-1"');
    // VERSION stands in for --envoy-version and its env var; both given on one command line are refused.
    expect(resolveInstallOptions({}, { KUMA_DATAPLANE_RUNTIME_ENVOY_VERSION: '1.33' }, '1.34').settings.envoyVersion).to.equal('1.34');
    expect(resolveInstallOptions({ envoyVersion: '1.35' }, {}, '1.34').problems).to.deep.equal([
      'both VERSION "1.34" and --envoy-version "1.35" were given; give the version once',
    ]);
    expect(resolveInstallOptions({ downloadBaseUrl: 'x' }, {}, '1.x').problems).to.include('"1.x" is not an Envoy version; use X.Y.Z (e.g. 1.34.1), X.Y for its newest patch (1.34), or latest');
    expect(resolveInstallOptions({}, { KUMA_DP_DOWNLOAD_CONNECT_TIMEOUT: '0s' }).problems).to.deep.equal([
      'KUMA_DP_DOWNLOAD_CONNECT_TIMEOUT must be greater than 0, got "0s"',
    ]);
  });

  it('finds the cache dir per DESIGN §4', () => {
    expect(cacheDirFromEnv({ KUMA_DP_CACHE_DIR: '/a', XDG_CACHE_HOME: '/x', HOME: '/h' })).to.equal('/a');
    expect(cacheDirFromEnv({ KUMA_DP_CACHE_DIR: 'rel', HOME: '/h' }, '/w')).to.equal('/w/rel');
    expect(cacheDirFromEnv({ XDG_CACHE_HOME: '/x', HOME: '/h' })).to.equal('/x/kuma-dp');
    expect(cacheDirFromEnv({ XDG_CACHE_HOME: 'relative', HOME: '/h' })).to.equal('/h/.cache/kuma-dp');
    expect(cacheDirFromEnv({ HOME: '/h' })).to.equal('/h/.cache/kuma-dp');
  });

  it('reads a func-e versions index: platform tarballs, sha256 by base name, relative URLs, no debug builds', () => {
    const sum = 'c'.repeat(64);
    const index = JSON.stringify({
      latestVersion: '1.9.9',
      versions: {
        '1.9.10': { releaseDate: '2025-01-01', tarballs: { 'linux/amd64': 'download/envoy-v1.9.10-linux-amd64.tar.xz' } },
        '1.9.10_debug': { tarballs: { 'linux/amd64': 'https://x/envoy-v1.9.10_debug-linux-amd64.tar.xz' } },
        '1.9.9': { tarballs: { 'darwin/arm64': 'https://x/envoy-v1.9.9-darwin-arm64.tar.xz' } },
      },
      sha256sums: { 'envoy-v1.9.10-linux-amd64.tar.xz': sum.toUpperCase() },
    });
    const releases = indexReleases(index, 'http://m.example/envoy/envoy-versions.json', 'linux/amd64');
    expect([...releases.keys()]).to.deep.equal(['1.9.10']);
    expect(releases.get('1.9.10')).to.deep.equal({
      version: '1.9.10',
      tarballUrl: 'http://m.example/envoy/download/envoy-v1.9.10-linux-amd64.tar.xz',
      sha256: sum,
    });
    expect(indexReleases(index, 'http://m.example/i.json', 'darwin/arm64').get('1.9.9')?.sha256).to.equal(undefined);
    expect(() => indexReleases('{"versions": 3}', 'http://m.example/i.json', 'linux/amd64')).to.throw(/no "versions" object/);
    expect(() => indexReleases('<html>', 'http://m.example/i.json', 'linux/amd64')).to.throw(/not JSON/);
  });
});

describe('envoy install: progress', () => {
  after(cleanupTempDirs);

  function sink(isTTY: boolean) {
    const stream = Object.assign(new PassThrough(), { isTTY, columns: 120 });
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    return { stream: stream as unknown as NodeJS.WriteStream, text: () => text };
  }

  it('draws a bar with bytes, total and speed on a terminal', () => {
    const out = sink(true);
    const progress = createProgress({ label: 'Envoy 1.2.3', logger: Logger.create({ level: 'info', format: 'text', outputPath: '/dev/null' }), stream: out.stream });
    progress.start(2 << 20);
    progress.advance(1 << 20);
    progress.stop();
    expect(out.text()).to.match(/Envoy 1\.2\.3 \[[^\]]+\] 50% \| 1\.0 MiB \/ 2\.0 MiB \| [\d.]+ (B|KiB|MiB|GiB)\/s/);
  });

  it('writes plain periodic log lines otherwise', () => {
    const out = sink(false);
    const logFile = join(makeTempDir('kdp-progress'), 'log');
    const progress = createProgress({
      label: 'Envoy 1.2.3',
      logger: Logger.create({ level: 'info', format: 'text', outputPath: logFile }),
      stream: out.stream,
      intervalMs: 0,
    });
    progress.start(2048);
    progress.advance(1024);
    progress.stop();
    expect(out.text()).to.equal('');
    expect(readFileSync(logFile, 'utf8')).to.match(/INFO\tkuma-dp\tEnvoy 1\.2\.3: 1\.0 KiB of 2\.0 KiB \(50%\) at [\d.]+ (B|KiB|MiB)\/s\n$/);
  });
});

describe('envoy install: archives', () => {
  after(cleanupTempDirs);
  const binary = fakeEnvoy('1.2.3', { padBytes: 100 });

  async function extract(entries: Parameters<typeof tarball>[0], compression: 'gz' | 'xz' = 'gz', maxBytes = 1 << 20) {
    const dir = makeTempDir('kdp-archive');
    writeFileSync(join(dir, 'a.tar'), tarball(entries, compression));
    const dest = join(dir, 'envoy');
    await extractEnvoyBinary(join(dir, 'a.tar'), dest, { source: 'test.tar', maxBytes });
    return { dir, dest };
  }

  it('extracts only */bin/envoy from .tar.gz and .tar.xz', async () => {
    for (const compression of ['gz', 'xz'] as const) {
      const { dir, dest } = await extract(
        [
          { path: 'top/', type: 'Directory' },
          { path: 'top/bin/envoy', body: binary },
          { path: 'top/bin/other', body: Buffer.from('x') },
          { path: 'top/LICENSE', body: Buffer.from('x') },
        ],
        compression,
      );
      expect(readdirSync(dir).sort()).to.deep.equal(['a.tar', 'envoy']);
      expect(readFileSync(dest).equals(binary)).to.equal(true);
    }
  });

  it('a binary that cannot be written is a cache problem, not a broken archive', async () => {
    const dir = makeTempDir('kdp-archive');
    writeFileSync(join(dir, 'a.tar'), tarball([{ path: 'top/bin/envoy', body: binary }], 'gz'));
    const dest = join(dir, 'missing', 'envoy');
    const err = await rejectionOf(extractEnvoyBinary(join(dir, 'a.tar'), dest, { source: 'test.tar', maxBytes: 1 << 20 }), KumaDpError);
    expect(err.line).to.equal(`cannot write ${dest}: no such file or directory (ENOENT); free space in the Envoy cache or set KUMA_DP_CACHE_DIR to another filesystem`);
  });

  const refusals: Array<[string, Parameters<typeof tarball>[0], RegExp]> = [
    ['a ../ entry', [{ path: 'top/bin/envoy', body: binary }, { path: 'top/../../evil', body: Buffer.from('x') }], /top\/\.\.\/\.\.\/evil, which leaves the archive/],
    ['an absolute path', [{ path: '/etc/evil', body: Buffer.from('x') }, { path: 'top/bin/envoy', body: binary }], /absolute path \/etc\/evil/],
    ['a symbolic link', [{ path: 'top/bin/envoy', type: 'SymbolicLink', linkpath: '/bin/sh' }], /symbolic link top\/bin\/envoy -> \/bin\/sh/],
    ['a hard link', [{ path: 'top/bin/envoy', body: binary }, { path: 'top/bin/copy', type: 'Link', linkpath: '/etc/shadow' }], /hard link top\/bin\/copy/],
    ['no envoy', [{ path: 'top/bin/not-envoy', body: binary }], /no <dir>\/bin\/envoy/],
    ['two envoys', [{ path: 'a/bin/envoy', body: binary }, { path: 'b/bin/envoy', body: binary }], /more than one envoy/],
  ];
  for (const [what, entries, message] of refusals) {
    it(`refuses an archive with ${what}`, async () => {
      const err = await rejection(extract(entries));
      expect(err.message).to.match(/^refusing the archive test\.tar|^cannot unpack/).and.match(message);
    });
  }

  it('says clearly when .tar.xz needs the missing xz program', async () => {
    const archive = join(makeTempDir('kdp-archive'), 'a.tar.xz');
    writeFileSync(archive, tarball([{ path: 'top/bin/envoy', body: binary }], 'xz'));
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const err = await rejection(extractEnvoyBinary(archive, join(archive, '..', 'envoy'), { source: 'test.tar', maxBytes: 1 << 20 }));
      expect(err).to.be.instanceOf(ConfigError);
      expect(err.line).to.equal(
        'cannot unpack test.tar: it is a .tar.xz archive and the xz program is not installed; install xz (Debian/Ubuntu: xz-utils), or use a versions index with .tar.gz tarballs',
      );
    } finally {
      process.env.PATH = path;
    }
  });

  it('caps the unpacked size', async () => {
    const err = await rejection(extract([{ path: 'top/bin/envoy', body: Buffer.alloc(4096) }], 'xz', 1024));
    expect(err.message).to.match(/exceed 1\.0 KiB/);
  });
});

describe('envoy install: downloads from a loopback mirror', function () {
  this.timeout(10_000);
  let mirror: Mirror;
  let restoreProxyEnv: () => void;

  before(async () => {
    restoreProxyEnv = withoutProxyEnv();
    mirror = await Mirror.start();
    mirror.addRelease('1.34.1').addRelease('1.34.2').addRelease('1.35.0', { reportsVersion: '1.35.1' });
    mirror.addIndexRelease('1.9.9', 'xz').addIndexRelease('1.9.10', 'gz').addIndexRelease('1.8.3', 'xz');
  });
  after(async () => {
    await mirror.close();
    restoreProxyEnv();
    cleanupTempDirs();
  });

  function settings(env: Record<string, string> = {}, cli: Record<string, string> = {}): InstallSettings {
    const { settings: s, problems } = resolveInstallOptions(
      { downloadBaseUrl: mirror.baseUrl, ...cli },
      { KUMA_DP_CACHE_DIR: makeTempDir('kdp-cache'), ...TEST_ENV, ...env },
    );
    expect(problems).to.deep.equal([]);
    return s;
  }
  const install = (req: Partial<InstallRequest> & { settings: InstallSettings }) => installEnvoy({ version: '1.34.1', logger, ...req });

  it('installs a release, verifies it, and a second install downloads nothing', async () => {
    const s = settings();
    const path = mirror.releasePath('1.34.1');
    const before = mirror.hits(path);
    const first = await install({ settings: s });
    expect(first).to.deep.equal({ version: '1.34.1', path: managedBinary(s.cacheDir, '1.34.1'), downloaded: true });
    expect(mirror.hits(path)).to.equal(before + 1);
    expect(execFileSync(first.path, ['--version']).toString()).to.include('/1.34.1/Clean/RELEASE/BoringSSL');
    expect(listManaged(s.cacheDir)).to.deep.equal([{ version: '1.34.1', path: first.path }]);
    expectNothingInstalled(s.cacheDir, '1.34.2');

    const requests = mirror.requests.length;
    const second = await install({ settings: s });
    expect(second).to.deep.equal({ ...first, downloaded: false });
    expect(mirror.requests.length, 'no request at all').to.equal(requests);
  });

  it('a download file that cannot be opened fails at once as a cache problem, not as a network error', async () => {
    const s = settings();
    const dest = join(makeTempDir('kdp-dl'), 'no-such-dir', 'envoy');
    const url = `${mirror.origin}${mirror.releasePath('1.34.1')}`;
    const requests = mirror.requests.length;
    const log = join(makeTempDir('kdp-dl-log'), 'kuma-dp.log');
    writeFileSync(log, '');
    const warnLogger = Logger.create({ level: 'debug', format: 'text', outputPath: log });
    const err = await rejectionOf(downloadFile(url, dest, { tuning: s.download, logger: warnLogger }, { start: () => {}, advance: () => {} }), KumaDpError);
    expect(err.line).to.equal(`cannot write ${dest}: no such file or directory (ENOENT); free space in the Envoy cache or set KUMA_DP_CACHE_DIR to another filesystem`);
    expect(mirror.requests.length, 'no request').to.equal(requests);
    expect(readFileSync(log, 'utf8'), 'not retried').not.to.match(/retrying/);
  });

  it('refuses a binary that does not run here, saying why in one line, also under a cache path with spaces', async () => {
    mirror.addRelease('1.36.0', { reportsVersion: 'main' });
    const s = settings({ KUMA_DP_CACHE_DIR: join(makeTempDir('kdp-cache'), 'my cache') });
    const err = await rejectionOf(install({ settings: s, version: '1.36.0' }), ConfigError);
    expect(err.line).to.equal(
      `the Envoy 1.36.0 downloaded from ${mirror.origin}${mirror.releasePath('1.36.0')} does not work on this host: it printed no usable version: unrecognised Envoy build string "b5ca88acee3453c9459474b8f22215796eff4dde/main/Clean/RELEASE/BoringSSL"; nothing was installed; check that the source serves Linux glibc builds for this architecture, or use --binary-path`,
    );
    expectNothingInstalled(s.cacheDir, '1.36.0');
  });

  it('refuses a checksum mismatch, naming both sums, and leaves nothing behind', async () => {
    const s = settings();
    mirror.setFault(mirror.releasePath('1.34.2'), { kind: 'corrupt' });
    try {
      const err = await rejection(install({ settings: s, version: '1.34.2' }));
      expect(err.exitCode).to.equal(1);
      expect(err.line).to.match(/^checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/releases\/v1\.34\.2\/envoy-1\.34\.2-linux-\w+: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/);
      expectNothingInstalled(s.cacheDir, '1.34.2');
    } finally {
      mirror.setFault(mirror.releasePath('1.34.2'), undefined);
    }
  });

  it('fails on a connection cut mid-body when out of retries, and recovers from one cut with a retry', async () => {
    const path = mirror.releasePath('1.34.2');
    const s = settings();
    mirror.setFault(path, { kind: 'cut', afterBytes: 10_000 });
    try {
      const err = await rejection(install({ settings: s, version: '1.34.2' }));
      expect(err.exitCode).to.equal(1);
      expect(err.line).to.include(`downloading ${mirror.origin}${path} failed`);
      expectNothingInstalled(s.cacheDir, '1.34.2');

      mirror.setFault(path, { kind: 'cut', afterBytes: 10_000, times: 1 });
      const before = mirror.hits(path);
      const retried = await install({ settings: settings({ KUMA_DP_DOWNLOAD_RETRIES: '2' }), version: '1.34.2' });
      expect(retried.downloaded).to.equal(true);
      expect(mirror.hits(path)).to.equal(before + 2);
    } finally {
      mirror.setFault(path, undefined);
    }
  });

  it('times out a stalled download (idle timeout) and leaves nothing behind', async () => {
    const path = mirror.releasePath('1.34.2');
    const s = settings();
    mirror.setFault(path, { kind: 'stall', afterBytes: 5000 });
    try {
      const started = Date.now();
      const err = await rejection(install({ settings: s, version: '1.34.2' }));
      expect(err.line).to.match(/stalled: no data for 300ms/);
      expect(Date.now() - started).to.be.below(5000);
      expectNothingInstalled(s.cacheDir, '1.34.2');
    } finally {
      mirror.setFault(path, undefined);
    }
  });

  it('times out a server that accepts the connection but never answers (connect timeout)', async () => {
    const silent = createNetServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const s = settings({ KUMA_DP_DOWNLOAD_CONNECT_TIMEOUT: '200ms' }, { downloadBaseUrl: `http://127.0.0.1:${port}` });
      const err = await rejection(install({ settings: s }));
      expect(err.line).to.include(`downloading http://127.0.0.1:${port}/v1.34.1/checksums.txt.asc failed: no response from 127.0.0.1:${port} within 200ms`);
      expectNothingInstalled(s.cacheDir, '1.34.1');
    } finally {
      silent.close();
    }
  });

  it('retries a 5xx but not a 404, which says "no such version" with the URL (exit 2)', async () => {
    const path = mirror.releasePath('1.34.2');
    mirror.setFault(path, { kind: 'status', status: 503, times: 1 });
    try {
      const before = mirror.hits(path);
      expect((await install({ settings: settings({ KUMA_DP_DOWNLOAD_RETRIES: '1' }), version: '1.34.2' })).downloaded).to.equal(true);
      expect(mirror.hits(path)).to.equal(before + 2);
    } finally {
      mirror.setFault(path, undefined);
    }
    const s = settings({ KUMA_DP_DOWNLOAD_RETRIES: '3' });
    const unknown = `/releases/v9.9.9/checksums.txt.asc`;
    const err = await rejection(install({ settings: s, version: '9.9.9' }));
    expect(err.exitCode).to.equal(2);
    expect(err.line).to.include(`no such Envoy version 9.9.9: ${mirror.origin}${unknown} returned 404 Not Found`);
    expect(mirror.hits(unknown), 'a 404 is not retried').to.equal(1);
    expectNothingInstalled(s.cacheDir, '9.9.9');
  });

  it('refuses a binary that reports another version than the one asked for', async () => {
    const s = settings();
    const err = await rejection(install({ settings: s, version: '1.35.0' }));
    expect(err.line).to.match(/reports Envoy 1\.35\.1, not 1\.35\.0/);
    expectNothingInstalled(s.cacheDir, '1.35.0');
  });

  it('resolves latest and X.Y from the index by semver (1.9.10 > 1.9.9), ignoring its string-sorted latestVersion', async () => {
    const s = settings({}, { envoyVersionsUrl: mirror.indexUrl });
    const latest = await install({ settings: s, version: 'latest' });
    expect(latest).to.include({ version: '1.9.10', downloaded: true });
    expect(execFileSync(latest.path, ['--version']).toString()).to.include('/1.9.10/');
    expect(mirror.hits('/index/download/v1.9.10/envoy-v1.9.10-linux-amd64.tar.gz')).to.be.at.least(1);
    expect((await install({ settings: s, version: '1.8' })).version).to.equal('1.8.3');
    const xz = await install({ settings: s, version: '1.9.9' });
    expect(execFileSync(xz.path, ['--version']).toString()).to.include('/1.9.9/');
    expect(listManaged(s.cacheDir).map((m) => m.version)).to.deep.equal(['1.9.10', '1.9.9', '1.8.3']);

    const missing = await rejection(install({ settings: s, version: '1.7' }));
    expect(missing.exitCode).to.equal(2);
    expect(missing.line).to.include('no Envoy 1.7 for linux/amd64 in the versions index').and.include('1.9.10, 1.9.9, 1.8.3');
  });

  it('installs macOS builds only through an index', async () => {
    const darwin = { os: 'darwin', arch: 'arm64' };
    const err = await rejection(install({ settings: settings(), version: '1.9.9', platform: darwin }));
    expect(err.exitCode).to.equal(2);
    expect(err.line).to.include('Envoy publishes no binaries for darwin/arm64').and.include('--envoy-versions-url');
    const s = settings({}, { envoyVersionsUrl: mirror.indexUrl });
    expect(await install({ settings: s, version: '1.9.9', platform: darwin })).to.include({ version: '1.9.9', downloaded: true });
    expect(mirror.hits('/index/download/v1.9.9/envoy-v1.9.9-darwin-arm64.tar.xz')).to.equal(1);
  });

  it('refuses index tarballs with a ../ entry or a symbolic link, installing nothing', async () => {
    const binary = fakeEnvoy('2.0.1');
    const m = await Mirror.start();
    try {
      m.addIndexRelease('2.0.1', 'gz', { tarball: tarball([{ path: 'e/bin/envoy', body: binary }, { path: 'e/../../x', body: binary }], 'gz') });
      m.addIndexRelease('2.0.2', 'xz', { tarball: tarball([{ path: 'e/bin/envoy', type: 'SymbolicLink', linkpath: '/usr/bin/env' }], 'xz') });
      const s = settings({}, { envoyVersionsUrl: m.indexUrl });
      const dotdot = await rejection(install({ settings: s, version: '2.0.1' }));
      expect(dotdot.line).to.match(/^refusing the archive .*envoy-v2\.0\.1-linux-amd64\.tar\.gz: it contains the path e\/\.\.\/\.\.\/x/);
      expectNothingInstalled(s.cacheDir, '2.0.1');
      const link = await rejection(install({ settings: s, version: '2.0.2' }));
      expect(link.line).to.match(/symbolic link e\/bin\/envoy -> \/usr\/bin\/env/);
      expectNothingInstalled(s.cacheDir, '2.0.2');
    } finally {
      await m.close();
    }
  });

  it('needs an index for latest/X.Y, and refuses bad versions, platforms and cache dirs with exit 2', async () => {
    const noIndex = await rejection(install({ settings: settings(), version: '1.34' }));
    expect(noIndex.exitCode).to.equal(2);
    expect(noIndex.line).to.include('"1.34" can only be resolved with a versions index').and.include('--envoy-versions-url');
    expect((await rejection(install({ settings: settings(), version: '1.x' }))).exitCode).to.equal(2);
    expect((await rejection(install({ settings: settings(), version: '1.34.1', platform: { os: 'win32', arch: 'x64' } }))).exitCode).to.equal(2);

    const file = join(makeTempDir('kdp-file'), 'file');
    writeFileSync(file, '');
    const s = { ...settings(), cacheDir: join(file, 'cache') };
    const unwritable = await rejection(install({ settings: s }));
    expect(unwritable.exitCode).to.equal(2);
    expect(unwritable.line).to.equal(`cannot write the Envoy cache dir ${s.cacheDir}: not a directory (ENOTDIR); set KUMA_DP_CACHE_DIR (or XDG_CACHE_HOME) to a writable directory`);
  });

  it('recovers a stale lock left by a dead process', async () => {
    const s = settings();
    const lock = lockPath(s.cacheDir, '1.34.1');
    mkdirSync(dirname(lock), { recursive: true });
    writeFileSync(lock, JSON.stringify({ pid: deadPid(), hostname: hostname(), token: 'dead', createdAt: new Date().toISOString() }));
    const logFile = join(makeTempDir('kdp-log'), 'log');
    const recording = Logger.create({ level: 'info', format: 'json', outputPath: logFile });
    const started = Date.now();
    expect((await install({ settings: s, logger: recording })).downloaded).to.equal(true);
    expect(Date.now() - started).to.be.below(3000);
    expect(readFileSync(logFile, 'utf8')).to.match(/"message":"recovering a stale install lock".*"reason":"its process \d+ is gone"/);
    expect(existsSync(lock)).to.equal(false);
  });

  it('recovers a lock whose holder stopped refreshing it, even if its pid is alive', async () => {
    const lock = join(makeTempDir('kdp-lock'), 'v.lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, hostname: 'elsewhere', token: 'old', createdAt: new Date().toISOString() }));
    const past = new Date(Date.now() - 5000);
    utimesSync(lock, past, past);
    const reasons: string[] = [];
    const held = await acquireLock(lock, { staleAfterMs: 1000, onStale: (reason) => reasons.push(reason) });
    expect(reasons).to.have.length(1);
    expect(reasons[0]).to.match(/^it was last refreshed [45]s ago$/);
    expect(JSON.parse(readFileSync(lock, 'utf8'))).to.include({ pid: process.pid, hostname: hostname() });
    await held.release();
    expect(existsSync(lock)).to.equal(false);
  });

  it('waits for a live lock holder and then finds its install done', async () => {
    const s = settings();
    const held = await acquireLock(lockPath(s.cacheDir, '1.34.2'));
    const logFile = join(makeTempDir('kdp-log'), 'log');
    let settled = false;
    const waiting = install({ settings: s, version: '1.34.2', logger: Logger.create({ level: 'info', format: 'text', outputPath: logFile }) }).finally(
      () => (settled = true),
    );
    await waitFor(() => readFileSync(logFile, 'utf8').includes(`waiting for another kuma-dp installing the same Envoy\tversion=1.34.2 pid=${process.pid}`), {
      timeoutMs: 5000,
      what: 'the install to wait for the lock',
    });
    expect(settled, 'still waiting for the lock').to.equal(false);
    // The holder "installs" (a copy of a verified release) and releases the lock.
    const other = await install({ settings: settings(), version: '1.34.2' });
    mkdirSync(join(versionDir(s.cacheDir, '1.34.2'), 'bin'), { recursive: true });
    copyFileSync(other.path, managedBinary(s.cacheDir, '1.34.2'));
    await held.release();
    expect(await waiting).to.include({ version: '1.34.2', downloaded: false });
  });

  it('an aborted install (SIGINT in the CLI) removes its temp files and lock', async () => {
    const path = mirror.releasePath('1.34.2');
    const s = settings({ KUMA_DP_DOWNLOAD_IDLE_TIMEOUT: '20s' });
    mirror.setFault(path, { kind: 'stall', afterBytes: 20_000 });
    try {
      const controller = new AbortController();
      const pending = install({ settings: s, version: '1.34.2', signal: controller.signal });
      const staged = await waitFor(
        () => {
          const dirs = existsSync(stagingRoot(s.cacheDir)) ? readdirSync(stagingRoot(s.cacheDir)) : [];
          const file = dirs[0] && join(stagingRoot(s.cacheDir), dirs[0], 'bin', 'envoy');
          return file && existsSync(file) && statSync(file).size === 20_000 && file;
        },
        { timeoutMs: 5000, what: 'the partial download in the staging dir' },
      );
      expect(staged).to.include(`1.34.2-${process.pid}-`);
      controller.abort(new KumaDpError('interrupted by SIGINT; nothing was installed', { exitCode: 130 }));
      const err = await rejection(pending);
      expect(err.exitCode).to.equal(130);
      expectNothingInstalled(s.cacheDir, '1.34.2');
    } finally {
      mirror.setFault(path, undefined);
    }
  });

  it('removes an installed version and says when one is not installed', async () => {
    const s = settings();
    const installed = await install({ settings: s });
    expect(await removeEnvoy(s.cacheDir, '1.34.1', logger)).to.equal(versionDir(s.cacheDir, '1.34.1'));
    expect(existsSync(installed.path)).to.equal(false);
    expectNothingInstalled(s.cacheDir, '1.34.1');
    const err = await rejection(removeEnvoy(s.cacheDir, '1.34.1', logger));
    expect(err.exitCode).to.equal(1);
    expect(err.line).to.include(`Envoy 1.34.1 is not installed in ${join(s.cacheDir, 'envoy')}`);
    expect((await rejection(removeEnvoy(s.cacheDir, '1.34', logger))).exitCode).to.equal(2);
  });

  it('builds well-formed tarballs for the mirror (sanity of the fixture)', () => {
    const data = envoyTarball('1.2.3', 'linux/amd64', 'gz');
    const listing = execFileSync('tar', ['-tzf', '-'], { input: data }).toString().trim().split('\n');
    expect(listing).to.deep.equal(['envoy-v1.2.3-linux-amd64/', 'envoy-v1.2.3-linux-amd64/bin/', 'envoy-v1.2.3-linux-amd64/bin/envoy', 'envoy-v1.2.3-linux-amd64/LICENSE']);
  });
});
