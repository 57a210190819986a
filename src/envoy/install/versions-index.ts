import { KumaDpError } from '../../errors.js';
import { EXACT_VERSION } from './version-spec.js';
import { isRecord } from '../../util/is-record.js';

/** One release of the index that has a tarball for the platform asked about. */
export interface IndexRelease {
  version: string;
  tarballUrl: string;
  /** From `sha256sums[<tarball base name>]`; undefined when the index lacks it (the install then refuses). */
  sha256: string | undefined;
}


/**
 * Reads a func-e versions index (reference envoy-contract.md A.1) and returns its releases for
 * one `<goos>/<goarch>` key. `latestVersion` is ignored on purpose: the archive computes it with a
 * string sort; callers pick the semver maximum. Debug builds (`1.x.y_debug`) are skipped. Tarball
 * URLs may be relative to the index, which lets a mirror move as a whole.
 */
export function indexReleases(text: string, indexUrl: string, platformKey: string): Map<string, IndexRelease> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new KumaDpError(`the versions index ${indexUrl} is not JSON: ${(err as Error).message}`, {
      hint: 'check --envoy-versions-url',
    });
  }
  if (!isRecord(doc) || !isRecord(doc.versions)) {
    throw new KumaDpError(`the versions index ${indexUrl} has no "versions" object`, {
      hint: 'point --envoy-versions-url at a func-e style envoy-versions.json',
    });
  }
  const sums = isRecord(doc.sha256sums) ? doc.sha256sums : {};
  const releases = new Map<string, IndexRelease>();
  for (const [version, entry] of Object.entries(doc.versions)) {
    if (!EXACT_VERSION.test(version) || !isRecord(entry) || !isRecord(entry.tarballs)) continue;
    const tarball = entry.tarballs[platformKey];
    if (typeof tarball !== 'string' || tarball === '') continue;
    let tarballUrl: URL;
    try {
      tarballUrl = new URL(tarball, indexUrl);
    } catch {
      continue;
    }
    const name = decodeURIComponent(tarballUrl.pathname.split('/').pop() ?? '');
    const sum = sums[name];
    releases.set(version, {
      version,
      tarballUrl: tarballUrl.href,
      sha256: typeof sum === 'string' && /^[0-9a-fA-F]{64}$/.test(sum) ? sum.toLowerCase() : undefined,
    });
  }
  return releases;
}
