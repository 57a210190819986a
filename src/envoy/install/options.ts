import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { durationSetting } from '../../config/duration.js';
import { pickRaw, type FlagSpec, type RawSetting, type RawValues } from '../../config/flag-spec.js';
import { formatVersionSpec, parseVersionSpec, VERSION_FORMS } from './version-spec.js';

export const DEFAULT_DOWNLOAD_BASE_URL = 'https://github.com/envoyproxy/envoy/releases/download';

/** Network behaviour of downloads; env-only knobs (slow links lengthen them, tests shorten them). */
export interface DownloadTuning {
  /** From the request until the response headers arrive. */
  connectTimeoutMs: number;
  /** Longest silence while a body streams. */
  idleTimeoutMs: number;
  /** Further attempts after a network error, a timeout or a 5xx. */
  retries: number;
  /** First delay between attempts; doubles per attempt. */
  retryBackoffMs: number;
}

export interface InstallSettings {
  /** Root of the managed Envoys (DESIGN §4); they live in `<cacheDir>/envoy/<version>/bin/envoy`. */
  cacheDir: string;
  /** Base of Envoy's release layout, without a trailing slash. */
  downloadBaseUrl: string;
  /** A func-e style versions index; when set it is the download source and resolves `latest`/`X.Y`. */
  versionsUrl?: string;
  /** Normalised version spec (`1.34.1`, `1.34` or `latest`) from --envoy-version or its env var. */
  envoyVersion?: string;
  download: DownloadTuning;
}

/** Commander's attribute names for the three flags. */
export interface InstallCliOptions {
  envoyVersion?: string;
  downloadBaseUrl?: string;
  envoyVersionsUrl?: string;
}

export const INSTALL_FLAG_SPECS: readonly FlagSpec[] = [
  {
    key: 'envoyVersion',
    flags: '--envoy-version <version>',
    env: 'KUMA_DATAPLANE_RUNTIME_ENVOY_VERSION',
    description: `run the managed Envoy of this version, installing it first if missing: ${VERSION_FORMS}`,
  },
  {
    key: 'downloadBaseUrl',
    flags: '--download-base-url <url>',
    env: 'KUMA_DP_ENVOY_DOWNLOAD_BASE_URL',
    defaultValue: DEFAULT_DOWNLOAD_BASE_URL,
    description: "where Envoy releases are downloaded from: Envoy's GitHub releases or a mirror with the same layout",
  },
  {
    key: 'envoyVersionsUrl',
    flags: '--envoy-versions-url <url>',
    env: 'KUMA_DP_ENVOY_VERSIONS_URL',
    description: 'a func-e style versions index (JSON): download source instead of the releases, and needed to resolve X.Y and latest',
  },
  {
    key: 'downloadConnectTimeout',
    env: 'KUMA_DP_DOWNLOAD_CONNECT_TIMEOUT',
    defaultValue: '30s',
    description: "Envoy downloads: longest wait from a request to the server's response headers",
  },
  {
    key: 'downloadIdleTimeout',
    env: 'KUMA_DP_DOWNLOAD_IDLE_TIMEOUT',
    defaultValue: '60s',
    description: 'Envoy downloads: longest silence while a body streams',
  },
  {
    key: 'downloadRetries',
    env: 'KUMA_DP_DOWNLOAD_RETRIES',
    defaultValue: '3',
    description: 'Envoy downloads: further attempts after a network error, a timeout or a 5xx (never after a 404)',
  },
  {
    key: 'downloadRetryBackoff',
    env: 'KUMA_DP_DOWNLOAD_RETRY_BACKOFF',
    defaultValue: '1s',
    description: 'Envoy downloads: first delay between attempts; doubles per attempt, ±20% jitter',
  },
];

/** DESIGN §4: `$KUMA_DP_CACHE_DIR`, else `$XDG_CACHE_HOME/kuma-dp`, else `~/.cache/kuma-dp`. */
export function cacheDirFromEnv(env: NodeJS.ProcessEnv, cwd = process.cwd()): string {
  if (env.KUMA_DP_CACHE_DIR) return resolve(cwd, env.KUMA_DP_CACHE_DIR);
  // The XDG spec says relative values are invalid and must be ignored.
  if (env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME)) return join(env.XDG_CACHE_HOME, 'kuma-dp');
  return join(env.HOME || homedir(), '.cache', 'kuma-dp');
}

function httpUrl(text: string, origin: string, problems: string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    problems.push(`${origin} "${text}" is not a URL; give an http:// or https:// URL`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push(`${origin} "${text}" must be an http:// or https:// URL`);
    return undefined;
  }
  return url.href;
}

function tuning(raw: (key: string) => RawSetting, problems: string[]): DownloadTuning {
  const duration = (key: string, positive: boolean): number => {
    const { value, origin } = raw(key);
    return durationSetting(String(value), origin, problems, { positive });
  };
  const { value: retries, origin: retriesOrigin } = raw('downloadRetries');
  if (!/^\d+$/.test(String(retries).trim())) problems.push(`${retriesOrigin} must be a whole number, got "${String(retries)}"`);
  return {
    connectTimeoutMs: duration('downloadConnectTimeout', true),
    idleTimeoutMs: duration('downloadIdleTimeout', true),
    retries: Number(retries) || 0,
    retryBackoffMs: duration('downloadRetryBackoff', false),
  };
}

/**
 * flag > env var > default for the install settings; every problem is returned as one line
 * so that the caller can report all of them together.
 */
export function resolveInstallOptions(
  cliOpts: InstallCliOptions,
  env: NodeJS.ProcessEnv,
  versionArgument?: string,
): { settings: InstallSettings; problems: string[] } {
  const problems: string[] = [];
  const raw = (key: string) => pickRaw(INSTALL_FLAG_SPECS.find((s) => s.key === key)!, cliOpts as RawValues, env);

  const base = raw('downloadBaseUrl');
  const downloadBaseUrl = httpUrl(String(base.value), base.origin, problems)?.replace(/\/+$/, '') ?? DEFAULT_DOWNLOAD_BASE_URL;

  const settings: InstallSettings = {
    cacheDir: cacheDirFromEnv(env),
    downloadBaseUrl,
    download: tuning(raw, problems),
  };

  const index = raw('envoyVersionsUrl');
  if (index.value !== undefined && index.value !== '') {
    const url = httpUrl(String(index.value), index.origin, problems);
    if (url) settings.versionsUrl = url;
  }

  // A VERSION argument (`envoy install 1.34`) stands in for --envoy-version and its env var; both
  // on one command line would be two answers.
  const fromSettings = raw('envoyVersion');
  if (versionArgument !== undefined && fromSettings.origin.startsWith('--')) {
    problems.push(`both VERSION "${versionArgument}" and --envoy-version "${String(fromSettings.value)}" were given; give the version once`);
  }
  const version = versionArgument !== undefined ? { value: versionArgument, origin: '' } : fromSettings;
  if (version.value !== undefined && (version.value !== '' || versionArgument !== undefined)) {
    const spec = parseVersionSpec(String(version.value));
    if (spec) settings.envoyVersion = formatVersionSpec(spec);
    else problems.push(`${version.origin ? `${version.origin} ` : ''}"${String(version.value)}" is not an Envoy version; use ${VERSION_FORMS}`);
  }
  return { settings, problems };
}
