import { execFile } from 'node:child_process';
import semver from 'semver';
import { ConfigError } from '../errors.js';

export interface EnvoyVersion {
  /** The release, e.g. `1.34.1` or `1.20.0-dev`. */
  version: string;
  /** The whole build string after `version:`, e.g. `<sha>/1.34.1/Clean/RELEASE/BoringSSL`. */
  build: string;
}

/**
 * Parses `envoy --version` output. Unlike kuma-dp (which demands exactly five `/` fields and trims
 * a character set), this accepts old four-field builds and `-dev` style labels: take the first
 * `version:` line, split the build string on `/`, and use the field that looks like a release.
 */
export function parseEnvoyVersion(output: string): EnvoyVersion {
  const line = output.replace(/\r\n/g, '\n').split('\n').find((l) => /version:/.test(l));
  const build = line?.slice(line.indexOf('version:') + 'version:'.length).trim().split(/\s+/)[0];
  if (!build) throw new Error(`no "version:" line in the output: ${JSON.stringify(output.trim().slice(0, 200))}`);
  const fields = build.split('/');
  const version = fields.length >= 2 ? fields[1]! : fields[0]!;
  if (!/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(version)) {
    throw new Error(`unrecognised Envoy build string "${build}"`);
  }
  return { version, build };
}

/** `Envoy binary <path> <reason>`; `reason` alone for messages that name the binary their own way. */
export class EnvoyVersionError extends ConfigError {
  constructor(
    binary: string,
    readonly reason: string,
    hint: string,
  ) {
    super(`Envoy binary ${binary} ${reason}`, { hint });
    this.name = 'EnvoyVersionError';
  }
}

/** Runs `<binary> --version` (stdout only, as kuma-dp does) and parses it. */
export function readEnvoyVersion(binary: string, timeoutMs = 10_000): Promise<EnvoyVersion> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--version'], { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const detail = err.killed
          ? `it did not answer within ${timeoutMs / 1000}s`
          : (stderr || err.message).trim().split('\n').pop();
        reject(
          new EnvoyVersionError(binary, `failed to run with --version: ${detail}`, 'check that it is an Envoy executable for this platform, or point --binary-path at one'),
        );
        return;
      }
      try {
        resolve(parseEnvoyVersion(stdout));
      } catch (parseErr) {
        reject(new EnvoyVersionError(binary, `printed no usable version: ${(parseErr as Error).message}`, 'check that --binary-path points at Envoy'));
      }
    });
  });
}

/**
 * kuma-dp's compatibility rule: an exact match, or the same major.minor with a patch not older
 * than the expected one (Masterminds `~expected`). Informational only; returns undefined when
 * either side cannot be parsed.
 */
export function isCompatible(expected: string, actual: string): boolean | undefined {
  if (expected === actual) return true;
  const want = semver.parse(expected);
  const have = semver.parse(actual);
  if (!want || !have) return undefined;
  return semver.satisfies(have, `~${want.major}.${want.minor}.${want.patch}`, { includePrerelease: true });
}

/** `skip_exit` on /drain_listeners exists from Envoy 1.27 (envoyproxy/envoy#30003). */
export function supportsDrainSkipExit(version: string): boolean {
  const v = semver.coerce(version);
  return v ? semver.gte(v, '1.27.0') : true;
}
