/**
 * A throwaway self-signed certificate for `dev-cp --tls`, made with the `openssl` command line so
 * no crypto code lives here. It is its own CA (kuma-cp refuses a `caCert` that is not one), valid for
 * 127.0.0.1 and localhost, for one day.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsMaterial } from './server.js';

export function selfSignedCertificate(dir: string): TlsMaterial & { certPath: string } {
  const certPath = join(dir, 'dev-cp-ca.pem');
  const keyPath = join(dir, 'dev-cp-key.pem');
  try {
    execFileSync(
      'openssl',
      [
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=kuma-dp dev control plane',
        '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-keyout', keyPath, '-out', certPath,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (err) {
    const detail = (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
    throw new Error(`dev control plane: openssl could not make a certificate for --tls: ${detail}; install openssl or run without --tls`);
  }
  const cert = readFileSync(certPath, 'utf8');
  return { cert, key: readFileSync(keyPath, 'utf8'), ca: cert, certPath };
}
