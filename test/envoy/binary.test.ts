import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { findEnvoyBinary } from '../../src/envoy/binary.js';
import { resolveEnvoyBinary, type ResolveEnvoyOptions } from '../../src/envoy/install/ensure-envoy.js';
import { managedBinary } from '../../src/envoy/install/cache.js';
import { resolveInstallOptions, type InstallSettings } from '../../src/envoy/install/options.js';
import { ConfigError } from '../../src/errors.js';
import { Logger } from '../../src/logging/logger.js';
import { fakeEnvoy, Mirror, withoutProxyEnv } from '../support/mirror.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';
import { rejectionOf } from '../support/errors.js';
import { writeExecutable } from '../support/executable.js';

const configError = (promise: Promise<unknown>) => rejectionOf(promise, ConfigError);

const executable = (dir: string, name = 'envoy', mode = 0o755): string => writeExecutable(join(dir, name), '#!/bin/sh\nexit 0\n', mode);

describe('Envoy binary lookup', function () {
  this.timeout(10_000);
  let mirror: Mirror;
  let restoreProxyEnv: () => void;

  before(async () => {
    restoreProxyEnv = withoutProxyEnv();
    mirror = await Mirror.start();
    mirror.addRelease('1.34.1');
  });
  after(async () => {
    await mirror.close();
    restoreProxyEnv();
    cleanupTempDirs();
  });

  /** A world of empty dirs: PATH (two dirs), cwd, kuma-dp's dir, the cache. */
  function world(install: Partial<InstallSettings> = {}) {
    const root = makeTempDir('kdp-lookup');
    const dirs = { path1: join(root, 'p1'), path2: join(root, 'p2'), cwd: join(root, 'cwd'), self: join(root, 'self'), cache: join(root, 'cache') };
    for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
    const { settings } = resolveInstallOptions(
      { downloadBaseUrl: mirror.baseUrl },
      { KUMA_DP_CACHE_DIR: dirs.cache, KUMA_DP_DOWNLOAD_RETRIES: '0' },
    );
    const opts: ResolveEnvoyOptions = {
      install: { ...settings, ...install },
      cwd: dirs.cwd,
      selfDir: dirs.self,
      env: { PATH: `${dirs.path1}:relative/dir:${dirs.path2}` },
      logger: Logger.silent(),
    };
    const manage = (version: string): string => writeExecutable(managedBinary(dirs.cache, version), fakeEnvoy(version, { padBytes: 0 }));
    return { dirs, opts, manage };
  }

  it('without --binary-path: PATH, then ./envoy, then next to kuma-dp, then the newest managed version', async () => {
    const { dirs, opts, manage } = world();
    manage('1.9.9');
    const newest = manage('1.9.10');
    expect(await resolveEnvoyBinary(opts)).to.deep.equal({ path: newest, source: 'managed 1.9.10 (newest installed)' });
    const self = executable(dirs.self);
    expect(await resolveEnvoyBinary(opts)).to.deep.equal({ path: self, source: 'next to kuma-dp' });
    const cwd = executable(dirs.cwd);
    expect(await resolveEnvoyBinary(opts)).to.deep.equal({ path: cwd, source: './envoy' });
    executable(dirs.path1, 'envoy', 0o644); // not executable: skipped
    const onPath = executable(dirs.path2);
    expect(await resolveEnvoyBinary(opts)).to.deep.equal({ path: onPath, source: 'PATH' });
  });

  it('lists every place looked at when nothing is found (exit 2), and says how to fix it', async () => {
    const { dirs, opts } = world();
    executable(dirs.path1, 'envoy', 0o644);
    mkdirSync(join(dirs.cwd, 'envoy'));
    const err = await configError(resolveEnvoyBinary(opts));
    expect(err.exitCode).to.equal(2);
    expect(err.line).to.equal(
      `no executable Envoy binary found; looked at: ${dirs.path1}/envoy (not executable), ${dirs.path2}/envoy, ${dirs.cwd}/envoy (not executable), ` +
        `${dirs.self}/envoy, managed versions in ${dirs.cache}/envoy (none installed); pass --binary-path (or KUMA_DATAPLANE_RUNTIME_BINARY_PATH) ` +
        'pointing at Envoy, or install one with `kuma-dp envoy install [VERSION]` (or run with --envoy-version)',
    );
  });

  it('with --binary-path: a bare name on PATH, a path as given, then ./envoy and next to kuma-dp, like kuma-dp', async () => {
    const { dirs, opts, manage } = world();
    manage('1.34.1');
    const named = executable(dirs.path2, 'envoy-1.34');
    expect(await resolveEnvoyBinary({ ...opts, binaryPath: 'envoy-1.34' })).to.deep.equal({ path: named, source: '--binary-path on PATH' });
    const relative = executable(join(dirs.cwd, 'sub'), 'my-envoy');
    expect(await resolveEnvoyBinary({ ...opts, binaryPath: 'sub/my-envoy' })).to.deep.equal({ path: relative, source: '--binary-path' });
    const self = executable(dirs.self);
    expect(await resolveEnvoyBinary({ ...opts, binaryPath: '/nowhere/envoy' })).to.deep.equal({ path: self, source: 'next to kuma-dp' });

    const err = await configError(resolveEnvoyBinary({ ...opts, selfDir: dirs.path1, binaryPath: '/nowhere/envoy' }));
    expect(err.line).to.match(
      new RegExp(`^no executable Envoy binary found; looked at: /nowhere/envoy, ${dirs.cwd}/envoy, ${dirs.path1}/envoy; pass --binary-path`),
    );
    expect(err.line, 'an explicit path never falls back to managed versions').not.to.include('managed');
  });

  it('--envoy-version on an empty cache installs it (and the next lookup downloads nothing)', async () => {
    const { dirs, opts } = world({ envoyVersion: '1.34.1' });
    executable(dirs.path1); // --envoy-version wins over PATH
    const before = mirror.hits(mirror.releasePath('1.34.1'));
    const first = await resolveEnvoyBinary(opts);
    expect(first).to.deep.equal({ path: managedBinary(dirs.cache, '1.34.1'), source: 'managed 1.34.1 (--envoy-version 1.34.1, installed now)' });
    expect(mirror.hits(mirror.releasePath('1.34.1'))).to.equal(before + 1);
    const requests = mirror.requests.length;
    expect(await resolveEnvoyBinary(opts)).to.deep.equal({ ...first, source: 'managed 1.34.1 (--envoy-version 1.34.1)' });
    expect(mirror.requests.length).to.equal(requests);
  });

  it('--envoy-version X.Y uses the newest installed patch without any network; otherwise it needs an index', async () => {
    const { opts, manage } = world({ envoyVersion: '1.9' });
    const noIndex = await configError(resolveEnvoyBinary(opts));
    expect(noIndex.line).to.include('"1.9" can only be resolved with a versions index');
    manage('1.9.9');
    const newest = manage('1.9.10');
    manage('1.10.0');
    const requests = mirror.requests.length;
    expect(await resolveEnvoyBinary(opts)).to.deep.equal({ path: newest, source: 'managed 1.9.10 (--envoy-version 1.9)' });
    expect(mirror.requests.length).to.equal(requests);
  });

  it('findEnvoyBinary never installs', async () => {
    const { dirs, opts } = world({ envoyVersion: '1.34.1' });
    const requests = mirror.requests.length;
    const err = await configError(findEnvoyBinary(opts));
    expect(err.line).to.equal(
      `Envoy 1.34.1 is not installed in ${dirs.cache}/envoy; install it with \`kuma-dp envoy install 1.34.1\` (kuma-dp run --envoy-version 1.34.1 installs it too)`,
    );
    expect(mirror.requests.length).to.equal(requests);
  });
});
