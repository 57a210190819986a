/**
 * `npm run dev-cp`: a kuma-cp stand-in for trying kuma-dp without a mesh. See scripts/dev-cp/server.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { selfSignedCertificate } from './dev-cp/self-signed.js';
import { DEFAULT_PORT, startDevControlPlane, type TlsMaterial } from './dev-cp/server.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number (0-65535)');
  return n;
}

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString()} dev-cp ${line}\n`);
};

async function main(): Promise<void> {
  const options = new Command('dev-cp')
    .description('A kuma-cp stand-in on loopback: POST /bootstrap and ADS v3 serving one listener that proxies to a local app')
    .option('--host <address>', 'loopback address to listen on', '127.0.0.1')
    .option('--port <port>', 'port of POST /bootstrap (kuma-dp --cp-address for --bootstrap remote)', port, DEFAULT_PORT)
    .option('--ads-port <port>', 'port of ADS (gRPC), also kuma-dp --cp-address for --bootstrap local (default: --port + 1)', port)
    .option('--app-port <port>', 'port of the local app the listener routes to', port, 8080)
    .option('--listener-port <port>', "port of Envoy's listener", port, 10080)
    .option('--tls', 'serve both ports over TLS with a self-signed certificate made by openssl at start')
    .parse()
    .opts<{ host: string; port: number; adsPort?: number; appPort: number; listenerPort: number; tls?: boolean }>();

  const certDir = options.tls ? mkdtempSync(join(tmpdir(), 'dev-cp-')) : undefined;
  const removeCertDir = (): void => {
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  };
  let tls: (TlsMaterial & { certPath: string }) | undefined;
  try {
    tls = certDir ? selfSignedCertificate(certDir) : undefined;
    const cp = await startDevControlPlane({ ...options, tls, log });
    log(`bootstrap server on ${cp.url}/bootstrap   (kuma-dp run --cp-address ${cp.url})`);
    log(`ADS server on ${cp.adsUrl}   (kuma-dp run --bootstrap local --cp-address ${cp.adsUrl})`);
    if (tls) log(`TLS: certificate and CA in ${tls.certPath}   (kuma-dp run --ca-cert-file ${tls.certPath})`);
    log(`serving one listener on 127.0.0.1:${options.listenerPort} that routes to the app on 127.0.0.1:${options.appPort}; Ctrl-C stops`);
    const stop = (signal: NodeJS.Signals): void => {
      log(`${signal}: stopping`);
      void cp.close().then(() => {
        removeCertDir();
        process.exit(0);
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (err) {
    removeCertDir();
    throw err;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`dev-cp: ${(err as Error).message}\n`);
  process.exit(1);
});
