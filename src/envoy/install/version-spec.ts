/**
 * What a user may ask for: an exact release (`1.34.1`), the newest patch of a minor (`1.34`) or
 * the newest release (`latest`). A leading `v` is accepted because release tags carry one.
 */
export type VersionSpec =
  | { kind: 'exact'; version: string }
  | { kind: 'minor'; major: number; minor: number }
  | { kind: 'latest' };

const FORM = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?$/;

/** A managed install's directory name: always an exact X.Y.Z. */
export const EXACT_VERSION = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

export const VERSION_FORMS = 'X.Y.Z (e.g. 1.34.1), X.Y for its newest patch (1.34), or latest';

export function parseVersionSpec(text: string): VersionSpec | undefined {
  const input = text.trim();
  if (input === 'latest') return { kind: 'latest' };
  const match = FORM.exec(input);
  if (!match) return undefined;
  const [, major, minor, patch] = match;
  if (patch === undefined) return { kind: 'minor', major: Number(major), minor: Number(minor) };
  return { kind: 'exact', version: `${major}.${minor}.${patch}` };
}

export function formatVersionSpec(spec: VersionSpec): string {
  if (spec.kind === 'latest') return 'latest';
  if (spec.kind === 'minor') return `${spec.major}.${spec.minor}`;
  return spec.version;
}

function matchesSpec(version: string, spec: VersionSpec): boolean {
  const match = EXACT_VERSION.exec(version);
  if (!match) return false;
  if (spec.kind === 'latest') return true;
  if (spec.kind === 'exact') return version === spec.version;
  return Number(match[1]) === spec.major && Number(match[2]) === spec.minor;
}

/**
 * Semver order, newest first: 1.9.10 before 1.9.9 (string order would get that wrong). Releases
 * are plain X.Y.Z, for which semver precedence is numeric comparison field by field; doing it here
 * keeps the semver package off the `envoy which` start-up path.
 */
export function newestFirst(versions: Iterable<string>): string[] {
  const fields = (v: string): number[] => v.split('.').map(Number);
  return [...versions]
    .filter((v) => EXACT_VERSION.test(v))
    .sort((a, b) => {
      const [x, y] = [fields(a), fields(b)];
      return y[0]! - x[0]! || y[1]! - x[1]! || y[2]! - x[2]!;
    });
}

export function pickNewest(versions: Iterable<string>, spec: VersionSpec): string | undefined {
  return newestFirst(versions).find((v) => matchesSpec(v, spec));
}
