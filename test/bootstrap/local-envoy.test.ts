import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { generateLocalBootstrap, type LocalBootstrapInput } from '../../src/bootstrap/local/generate.js';
import { cleanupTempDirs, makeTempDir } from '../support/tmp.js';

/**
 * The schema check is our reading of Envoy's rules; a real Envoy is the judge. Runs only where
 * ENVOY_BIN names an Envoy binary (never downloaded by the tests).
 */
describe('local bootstrap under a real `envoy --mode validate` (ENVOY_BIN)', function () {
  const envoy = process.env['ENVOY_BIN'];
  let caPem: string | undefined;

  before(function () {
    if (!envoy) this.skip();
    this.timeout(20_000);
    try {
      // Envoy parses an inline CA, so https cases need a real certificate; node:crypto cannot make one.
      const dir = makeTempDir('kdp-envoy-ca');
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=kuma-dp test CA'],
        { cwd: dir, stdio: 'pipe' },
      );
      caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
    } catch {
      caPem = undefined;
    }
  });
  after(cleanupTempDirs);

  const cases: [string, Partial<LocalBootstrapInput>][] = [
    ['http, IP, TCP admin, no token', { cpAddress: 'http://127.0.0.1:5678', adminSocket: false }],
    ['http, host name, unix admin, token', { cpAddress: 'http://localhost:5678', adminSocket: true, token: 'a.b.c' }],
    ['https, host name, TCP admin, token', { cpAddress: 'https://localhost:5678', adminSocket: false, token: 'a.b.c' }],
    ['https, IP, unix admin, no token', { cpAddress: 'https://127.0.0.1:5678', adminSocket: true }],
  ];
  for (const [what, overrides] of cases) {
    it(`accepts ${what}`, async function () {
      this.timeout(30_000);
      const https = overrides.cpAddress!.startsWith('https:');
      if (https && !caPem) this.skip(); // no openssl to make the CA Envoy would load
      const workdir = makeTempDir('kdp-envoy');
      const text = generateLocalBootstrap({
        cpAddress: 'http://127.0.0.1:5678',
        mesh: 'default',
        name: 'web-1',
        workdir,
        adminSocket: false,
        ...(https ? { caCertPem: caPem } : {}),
        kumaDpVersion: '0.1.0',
        envoyVersion: '1.34.1',
        features: [],
        readinessPort: 9902,
        dnsPort: 15053,
        ...overrides,
      });
      const file = join(workdir, 'bootstrap.yaml');
      writeFileSync(file, text, { mode: 0o600 });
      const result = await execa(envoy!, ['--mode', 'validate', '-c', file], { reject: false, timeout: 25_000, all: true });
      expect(result.exitCode, result.all).to.equal(0);
    });
  }
});
