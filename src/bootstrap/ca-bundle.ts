import { ConfigError } from '../errors.js';
import { requireBuiltin } from '../platform/require-builtin.js';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle that parse, like Go's AppendCertsFromPEM (which skips the
 * others); none at all is a configuration error, reported without quoting the PEM. node:crypto is
 * loaded only here: a run without a CA (or an https control plane) does not pay for it.
 */
export function parseCaBundle(pem: string): string[] {
  const { X509Certificate } = requireBuiltin<typeof import('node:crypto')>('node:crypto');
  const certificates = (pem.match(PEM_CERTIFICATE) ?? []).filter((block) => {
    try {
      new X509Certificate(block);
      return true;
    } catch {
      return false;
    }
  });
  if (certificates.length === 0) {
    throw new ConfigError('could not add certificate: the control plane CA holds no parsable PEM certificate', {
      hint: 'point --ca-cert-file (or KUMA_CONTROL_PLANE_CA_CERT) at the PEM of the CA that signed the control plane certificate',
    });
  }
  return certificates;
}
