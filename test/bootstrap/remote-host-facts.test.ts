import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { NetworkInterfaceInfo } from 'node:os';
import {
  detectIpv6,
  detectMaxMemoryBytes,
  detectSystemCaPath,
  hasLocalIpv6,
  SYSTEM_CA_BUNDLE_PATHS,
} from '../../src/bootstrap/remote/host-facts.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';

function iface(address: string, family: 'IPv4' | 'IPv6'): NetworkInterfaceInfo {
  const common = { address, netmask: '', mac: '00:00:00:00:00:00', internal: false, cidr: null };
  return family === 'IPv4' ? { ...common, family } : { ...common, family, scopeid: 0 };
}

describe('bootstrap host facts', () => {
  after(cleanupTempDirs);

  it('lists the Debian, RHEL 6, openSUSE, OpenELEC, CentOS 7 and Alpine bundles in that order', () => {
    expect(SYSTEM_CA_BUNDLE_PATHS).to.deep.equal([
      '/etc/ssl/certs/ca-certificates.crt',
      '/etc/pki/tls/certs/ca-bundle.crt',
      '/etc/ssl/ca-bundle.pem',
      '/etc/pki/tls/cacert.pem',
      '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
      '/etc/ssl/cert.pem',
    ]);
  });

  it('picks the first existing CA bundle, or "" when none exists', async () => {
    const dir = makeTempDir('host-facts');
    const second = join(dir, 'second.pem');
    const third = join(dir, 'third.pem');
    writeFileSync(second, '');
    writeFileSync(third, '');
    expect(await detectSystemCaPath([join(dir, 'missing.pem'), second, third])).to.equal(second);
    expect(await detectSystemCaPath([join(dir, 'missing.pem')])).to.equal('');
  });

  it('sees IPv6 only on a non-loopback, non-v4-mapped address', () => {
    expect(hasLocalIpv6({ lo: [iface('127.0.0.1', 'IPv4'), iface('::1', 'IPv6')] })).to.equal(false);
    expect(hasLocalIpv6({ eth0: [iface('10.0.0.5', 'IPv4'), iface('::ffff:10.0.0.5', 'IPv6')] })).to.equal(false);
    expect(hasLocalIpv6({ eth0: [iface('fe80::1', 'IPv6')] })).to.equal(true);
  });

  it('turns ipv6Enabled off without local IPv6 and never turns it on', () => {
    const v6 = { eth0: [iface('2001:db8::5', 'IPv6')] };
    const v4 = { eth0: [iface('10.0.0.5', 'IPv4')] };
    expect(detectIpv6(true, v6)).to.equal(true);
    expect(detectIpv6(true, v4)).to.equal(false);
    expect(detectIpv6(false, v6)).to.equal(false);
  });

  it('reads the cgroup v1 limit file (a plain directory is not cgroup2) and treats "max" as 0', async () => {
    const dir = makeTempDir('host-facts');
    writeFileSync(join(dir, 'memory.limit_in_bytes'), '536870912\n');
    expect(await detectMaxMemoryBytes(dir, 'linux')).to.equal(536870912);
    writeFileSync(join(dir, 'memory.limit_in_bytes'), '9223372036854771712\n');
    expect(await detectMaxMemoryBytes(dir, 'linux')).to.equal(0);
    writeFileSync(join(dir, 'memory.limit_in_bytes'), 'max\n');
    expect(await detectMaxMemoryBytes(dir, 'linux')).to.equal(0);
    expect(await detectMaxMemoryBytes(join(dir, 'missing'), 'linux')).to.equal(0);
    expect(await detectMaxMemoryBytes(dir, 'darwin')).to.equal(0);
  });

  it('returns a whole number of bytes on this host: the limit file of its cgroup version, read independently', async () => {
    const bytes = await detectMaxMemoryBytes();
    expect(Number.isSafeInteger(bytes) && bytes >= 0).to.equal(true);
    const v2 = await statfs('/sys/fs/cgroup').then((s) => s.type === 0x63677270, () => false);
    const file = join('/sys/fs/cgroup', v2 ? 'memory.max' : 'memory.limit_in_bytes');
    const text = existsSync(file) ? readFileSync(file, 'utf8').trim() : 'max';
    const limit = /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : 0;
    expect(bytes, `${file}: ${text}`).to.equal(limit);
  });
});
