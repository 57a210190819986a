import { chmod, mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ConfigError, KumaDpError } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import { EnvoyVersionError, readEnvoyVersion } from '../version.js';
import { extractEnvoyBinary } from './archive.js';
import { lockPath, managedBinary, stagingRoot, versionDir } from './cache.js';
import { probeExecutable } from '../../platform/executables.js';
import { parseSha256Sums } from './checksums.js';
import { downloadFile, fetchText, NotFoundError, type HttpContext } from './http.js';
import { acquireLock } from './lock.js';
import { isAlive } from '../../platform/pidfile.js';
import type { InstallSettings } from './options.js';
import { envoyPlatform, type EnvoyPlatform } from './platform.js';
import { createProgress } from './progress.js';
import { formatVersionSpec, newestFirst, parseVersionSpec, pickNewest, VERSION_FORMS, type VersionSpec } from './version-spec.js';
import { indexReleases } from './versions-index.js';
import { describeFsError, realCause } from '../../platform/fs-errors.js';

/** Far above any Envoy binary (~150 MB) and well below what would fill a disk by surprise. */
const MAX_UNPACKED_BYTES = 1 << 30;

export interface InstallRequest {
  settings: InstallSettings;
  /** `1.34.1`, `1.34` or `latest`. */
  version: string;
  logger: Logger;
  signal?: AbortSignal | undefined;
  /** This host unless given (tests). */
  platform?: { os: string; arch: string };
}

export interface InstallResult {
  version: string;
  /** Absolute path of the managed binary. */
  path: string;
  /** False when it was already installed (by an earlier run or by a concurrent one we waited for). */
  downloaded: boolean;
}

type Source =
  | { kind: 'release'; version: string; url: string; checksumsUrl: string }
  | { kind: 'archive'; version: string; url: string; sha256: string };

function noSuchVersion(version: string, url: string, hint: string): ConfigError {
  return new ConfigError(`no such Envoy version ${version}: ${url} returned 404 Not Found`, { hint });
}

async function resolveFromIndex(spec: VersionSpec, platform: EnvoyPlatform, settings: InstallSettings, http: HttpContext): Promise<Source> {
  const indexUrl = settings.versionsUrl!;
  let text: string;
  try {
    text = await fetchText(indexUrl, http);
  } catch (err) {
    if (err instanceof NotFoundError) throw new ConfigError(`the versions index ${indexUrl} returned 404 Not Found`, { hint: 'check --envoy-versions-url' });
    throw err;
  }
  const releases = indexReleases(text, indexUrl, platform.indexKey);
  const version = pickNewest(releases.keys(), spec);
  const release = version === undefined ? undefined : releases.get(version);
  if (!release) {
    const known = newestFirst(releases.keys()).slice(0, 5).join(', ') || 'none';
    throw new ConfigError(`no Envoy ${formatVersionSpec(spec)} for ${platform.indexKey} in the versions index ${indexUrl} (newest listed: ${known})`, {
      hint: 'pick a listed version, or check --envoy-versions-url',
    });
  }
  if (!release.sha256) {
    throw new KumaDpError(`the versions index ${indexUrl} has no sha256 for ${release.tarballUrl}; refusing to install an unverified Envoy`, {
      hint: 'fix the index (sha256sums) or use another source',
    });
  }
  return { kind: 'archive', version: release.version, url: release.tarballUrl, sha256: release.sha256 };
}

function releaseSource(spec: VersionSpec, platform: EnvoyPlatform, settings: InstallSettings): Source {
  if (spec.kind !== 'exact') {
    throw new ConfigError(`Envoy "${formatVersionSpec(spec)}" can only be resolved with a versions index; Envoy's release downloads have no listing`, {
      hint: 'pass --envoy-versions-url (or KUMA_DP_ENVOY_VERSIONS_URL), or give an exact version such as 1.34.1',
    });
  }
  if (!platform.releaseArch) {
    throw new ConfigError(`Envoy publishes no binaries for ${platform.indexKey}`, {
      hint: 'pass --envoy-versions-url with a func-e style index (e.g. https://archive.tetratelabs.io/envoy/envoy-versions.json), or install Envoy yourself and pass --binary-path',
    });
  }
  const v = spec.version;
  const dir = `${settings.downloadBaseUrl}/v${v}`;
  return { kind: 'release', version: v, url: `${dir}/envoy-${v}-linux-${platform.releaseArch}`, checksumsUrl: `${dir}/checksums.txt.asc` };
}

async function ensureWritable(cacheDir: string): Promise<void> {
  try {
    await mkdir(stagingRoot(cacheDir), { recursive: true });
  } catch (err) {
    const cause = await realCause(stagingRoot(cacheDir), err as NodeJS.ErrnoException);
    throw new ConfigError(`cannot write the Envoy cache dir ${cacheDir}: ${describeFsError(cause)}`, {
      hint: 'set KUMA_DP_CACHE_DIR (or XDG_CACHE_HOME) to a writable directory',
    });
  }
}

/** Staging dirs are named `<version>-<pid>-<random>`: remove those of this version whose process died. */
async function sweepStaging(cacheDir: string, version: string): Promise<void> {
  const root = stagingRoot(cacheDir);
  for (const name of await readdir(root)) {
    const match = /^(.+)-(\d+)-[^-]+$/.exec(name);
    if (match?.[1] === version && !isAlive(Number(match[2]))) await rm(join(root, name), { recursive: true, force: true });
  }
}

async function expectedSum(source: Extract<Source, { kind: 'release' }>, http: HttpContext): Promise<string> {
  let text: string;
  try {
    text = await fetchText(source.checksumsUrl, http);
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw noSuchVersion(source.version, source.checksumsUrl, 'see https://github.com/envoyproxy/envoy/releases for the versions, or check --download-base-url');
    }
    throw err;
  }
  const name = basename(new URL(source.url).pathname);
  const sum = parseSha256Sums(text).get(name);
  if (!sum) {
    throw new KumaDpError(`${source.checksumsUrl} lists no sha256 for ${name}; refusing to install an unverified Envoy`, {
      hint: 'check --download-base-url (a mirror must carry checksums.txt.asc as Envoy publishes it)',
    });
  }
  return sum;
}

/** Downloads, verifies and unpacks into `staging/bin/envoy`; returns that path. */
async function stage(source: Source, staging: string, http: HttpContext): Promise<string> {
  const sha256 = source.kind === 'release' ? await expectedSum(source, http) : source.sha256;
  const binary = join(staging, 'bin', 'envoy');
  await mkdir(join(staging, 'bin'));
  const target = source.kind === 'release' ? binary : join(staging, 'download');
  const progress = createProgress({ label: `Envoy ${source.version}`, logger: http.logger });
  let got: { sha256: string; bytes: number };
  try {
    got = await downloadFile(source.url, target, http, progress);
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw noSuchVersion(source.version, source.url, 'check the version for this platform, or --download-base-url / --envoy-versions-url');
    }
    throw err;
  } finally {
    progress.stop();
  }
  if (got.sha256 !== sha256) {
    throw new KumaDpError(`checksum mismatch for ${source.url}: expected sha256 ${sha256}, got ${got.sha256} (${got.bytes} bytes)`, {
      hint: 'the download is corrupt or the source serves another file; nothing was installed',
    });
  }
  http.logger.debug('checksum verified', { url: source.url, sha256 });
  if (source.kind === 'archive') {
    await extractEnvoyBinary(target, binary, { source: source.url, maxBytes: MAX_UNPACKED_BYTES });
    await rm(target);
  }
  return binary;
}

/** The staged binary must run here and call itself the version asked for. */
async function checkStaged(binary: string, source: Source): Promise<void> {
  await chmod(binary, 0o755);
  const file = await open(binary, 'r');
  try {
    await file.sync();
  } finally {
    await file.close();
  }
  let reported: string;
  try {
    reported = (await readEnvoyVersion(binary)).version;
  } catch (err) {
    const detail = err instanceof EnvoyVersionError ? err.reason : (err as Error).message;
    throw new ConfigError(`the Envoy ${source.version} downloaded from ${source.url} does not work on this host: it ${detail}`, {
      hint: 'nothing was installed; check that the source serves Linux glibc builds for this architecture, or use --binary-path',
      cause: err,
    });
  }
  if (reported !== source.version) {
    throw new KumaDpError(`the binary downloaded from ${source.url} reports Envoy ${reported}, not ${source.version}`, {
      hint: 'nothing was installed; check the download source',
    });
  }
}

/**
 * Makes `<cache>/envoy/<version>/bin/envoy` exist and be right, downloading at most once across
 * concurrent processes. Everything happens in a staging dir inside the cache: download while
 * hashing, compare with the mandatory sha256, unpack (archives), chmod 0755, run `--version`,
 * and only then one rename of the whole version dir into place. Whatever fails or is
 * interrupted, the staging dir goes and nothing appears where `run` looks.
 */
export async function installEnvoy(req: InstallRequest): Promise<InstallResult> {
  const { settings, logger, signal } = req;
  const spec = parseVersionSpec(req.version);
  if (!spec) throw new ConfigError(`"${req.version}" is not an Envoy version`, { hint: `use ${VERSION_FORMS}` });
  const { cacheDir } = settings;
  const done = (version: string, downloaded: boolean): InstallResult => ({ version, path: managedBinary(cacheDir, version), downloaded });
  if (spec.kind === 'exact' && probeExecutable(managedBinary(cacheDir, spec.version)) === 'ok') return done(spec.version, false);

  const platform = envoyPlatform(req.platform?.os, req.platform?.arch);
  await ensureWritable(cacheDir);
  const http: HttpContext = { tuning: settings.download, logger, signal };
  const source = settings.versionsUrl ? await resolveFromIndex(spec, platform, settings, http) : releaseSource(spec, platform, settings);
  const { version } = source;
  if (probeExecutable(managedBinary(cacheDir, version)) === 'ok') return done(version, false);

  const lock = await acquireLock(lockPath(cacheDir, version), {
    signal,
    onWait: (owner) => logger.info('waiting for another kuma-dp installing the same Envoy', { version, pid: owner?.pid }),
    onStale: (reason) => logger.warn('recovering a stale install lock', { version, reason }),
  });
  try {
    if (probeExecutable(managedBinary(cacheDir, version)) === 'ok') return done(version, false);
    await sweepStaging(cacheDir, version);
    const staging = await mkdtemp(join(stagingRoot(cacheDir), `${version}-${process.pid}-`));
    try {
      logger.info('installing Envoy', { version, from: source.url });
      const binary = await stage(source, staging, http);
      await checkStaged(binary, source);
      await chmod(staging, 0o755); // mkdtemp made it 0700; the install is for whoever may run kuma-dp
      await rm(versionDir(cacheDir, version), { recursive: true, force: true });
      await rename(staging, versionDir(cacheDir, version));
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    logger.info('installed Envoy', { version, path: managedBinary(cacheDir, version) });
    return done(version, true);
  } finally {
    await lock.release();
  }
}
