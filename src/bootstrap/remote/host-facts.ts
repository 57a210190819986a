import { readFileAsync, statAsync, statfsAsync } from '../../platform/fs-async.js';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';

/** Where distributions keep the system CA bundle, in kuma-dp's (and Go's crypto/x509's) order. */
export const SYSTEM_CA_BUNDLE_PATHS: readonly string[] = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Gentoo
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7
  '/etc/ssl/cert.pem', // Alpine
];

/** The first existing system CA bundle (sent as `systemCaPath`), or '' when there is none. */
export async function detectSystemCaPath(candidates: readonly string[] = SYSTEM_CA_BUNDLE_PATHS): Promise<string> {
  for (const path of candidates) {
    try {
      await statAsync(path);
      return path;
    } catch {
      // Not on this distribution; try the next one.
    }
  }
  return '';
}

type Interfaces = ReturnType<typeof networkInterfaces>;

/** Whether any interface carries a non-loopback IPv6 address (kuma-dp's HasLocalIPv6). */
export function hasLocalIpv6(interfaces: Interfaces = networkInterfaces()): boolean {
  return Object.values(interfaces).some((addresses) =>
    (addresses ?? []).some(
      (a) => a.family === 'IPv6' && a.address !== '::1' && !a.address.toLowerCase().startsWith('::ffff:'),
    ),
  );
}

/** `ipv6Enabled`: what was asked for, turned off when the host has no IPv6 (never turned on). */
export function detectIpv6(requested: boolean, interfaces: Interfaces = networkInterfaces()): boolean {
  return requested && hasLocalIpv6(interfaces);
}

const CGROUP2_SUPER_MAGIC = 0x63677270;

async function isCgroup2(path: string): Promise<boolean> {
  try {
    return (await statfsAsync(path)).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return false;
  }
}

async function readBytes(path: string): Promise<number> {
  try {
    const text = (await readFileAsync(path, 'utf8')).trim();
    if (!/^\d+$/.test(text)) return 0; // "max" means no limit
    const value = Number(text);
    // cgroup v1 writes "no limit" as a page-rounded 2^63; it does not fit a JSON number exactly.
    return Number.isSafeInteger(value) ? value : 0;
  } catch {
    return 0;
  }
}

/**
 * The container memory limit kuma-dp reports as `resources.maxHeapSizeBytes`, 0 when unknown or
 * unlimited. Like kuma-dp it reads `memory.max` on cgroup v2 or hybrid hosts and
 * `memory.limit_in_bytes` directly under the mount on v1 (an unusual place, so v1 mostly gives 0).
 * Only Linux has cgroups. `cgroupRoot` exists for tests.
 */
export async function detectMaxMemoryBytes(
  cgroupRoot = '/sys/fs/cgroup',
  platform: NodeJS.Platform = process.platform,
): Promise<number> {
  if (platform !== 'linux') return 0;
  try {
    await statfsAsync(cgroupRoot);
  } catch {
    return 0;
  }
  const v2 = (await isCgroup2(cgroupRoot)) || (await isCgroup2(join(cgroupRoot, 'unified')));
  return readBytes(join(cgroupRoot, v2 ? 'memory.max' : 'memory.limit_in_bytes'));
}
