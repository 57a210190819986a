// The four functions, not semver's index: it builds every range and class at load, on the way to Envoy's exec.
import coerce from 'semver/functions/coerce.js';
import gte from 'semver/functions/gte.js';
import parse from 'semver/functions/parse.js';
import satisfies from 'semver/functions/satisfies.js';
import { ConfigError } from '../errors.js';
import { startVersionRun, VERSION_TIMEOUT_MS, type VersionRun } from './version-run.js';

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

/**
 * Runs `<binary> --version` (stdout only, as kuma-dp does) and parses it; `started` is used
 * instead when it is a run of the same binary (the launcher's early start for `run`).
 */
export async function readEnvoyVersion(binary: string, timeoutMs = VERSION_TIMEOUT_MS, started?: VersionRun): Promise<EnvoyVersion> {
  const run = started?.binary === binary && started.timeoutMs === timeoutMs ? started : startVersionRun(binary, timeoutMs);
  run.hold();
  const { error, timedOut, stdout, stderr } = await run.output;
  if (error) {
    const detail = timedOut ? `it did not answer within ${timeoutMs / 1000}s` : (stderr || error.message).trim().split('\n').pop();
    throw new EnvoyVersionError(binary, `failed to run with --version: ${detail}`, 'check that it is an Envoy executable for this platform, or point --binary-path at one');
  }
  try {
    return parseEnvoyVersion(stdout);
  } catch (parseErr) {
    throw new EnvoyVersionError(binary, `printed no usable version: ${(parseErr as Error).message}`, 'check that --binary-path points at Envoy');
  }
}

/**
 * kuma-dp's compatibility rule: an exact match, or the same major.minor with a patch not older
 * than the expected one (Masterminds `~expected`). Informational only; returns undefined when
 * either side cannot be parsed.
 */
export function isCompatible(expected: string, actual: string): boolean | undefined {
  if (expected === actual) return true;
  const want = parse(expected);
  const have = parse(actual);
  if (!want || !have) return undefined;
  return satisfies(have, `~${want.major}.${want.minor}.${want.patch}`, { includePrerelease: true });
}

/** `skip_exit` on /drain_listeners exists from Envoy 1.27 (envoyproxy/envoy#30003). */
export function supportsDrainSkipExit(version: string): boolean {
  const v = coerce(version);
  return v ? gte(v, '1.27.0') : true;
}
