/**
 * The dev control plane: a kuma-cp stand-in on loopback. HTTP(S) `POST /bootstrap` on one port and
 * ADS v3 (gRPC) on a second one, because kuma-cp's single-port mix of HTTP/1 and gRPC is not worth
 * reproducing here; the bootstraps it hands out point Envoy at the ADS port.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { adsServiceImplementation, type AdsStreamRecord } from './ads-server.js';
import { renderBootstrap } from './bootstrap.js';
import { bootstrapEndpoint, type BootstrapRecord } from './bootstrap-endpoint.js';
import { buildSnapshot } from './snapshot.js';
import { loadAdsService } from './xds-protos.js';

export const DEFAULT_PORT = 5678;

export interface TlsMaterial {
  /** PEM certificate chain served on both ports. */
  cert: string;
  key: string;
  /** PEM CA the bootstraps tell Envoy to trust; the certificate itself when it is self-signed. */
  ca?: string;
}

export interface DevControlPlaneOptions {
  /** A loopback address; default 127.0.0.1. */
  host?: string;
  /** Port of `POST /bootstrap`; default 5678, 0 lets the OS choose. */
  port?: number;
  /** Port of ADS; default `port + 1`, or OS-chosen when `port` is 0. */
  adsPort?: number;
  /** Port of the local app the listener routes to. */
  appPort: number;
  /** Port of the listener served to Envoy. */
  listenerPort: number;
  tls?: TlsMaterial;
  log?: (line: string) => void;
}

export interface DevControlPlane {
  /** `http(s)://host:port`: kuma-dp's `--cp-address` for `--bootstrap remote`. */
  url: string;
  /** `http(s)://host:adsPort`: kuma-dp's `--cp-address` for `--bootstrap local`. */
  adsUrl: string;
  port: number;
  adsPort: number;
  /** Every ADS stream opened so far, updated while it lives. */
  streams: AdsStreamRecord[];
  /** Every accepted `POST /bootstrap`. */
  bootstrapRequests: BootstrapRecord[];
  close(): Promise<void>;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

const hostPort = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function bindGrpc(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

export async function startDevControlPlane(options: DevControlPlaneOptions): Promise<DevControlPlane> {
  const host = options.host ?? '127.0.0.1';
  if (!LOOPBACK.test(host)) {
    throw new Error(`dev control plane: --host ${host} is not a loopback address; it serves tokens and config without auth, use 127.0.0.1`);
  }
  const log = options.log ?? (() => {});
  const requestedPort = options.port ?? DEFAULT_PORT;
  const requestedAdsPort = options.adsPort ?? (requestedPort === 0 ? 0 : requestedPort + 1);
  const scheme = options.tls ? 'https' : 'http';
  const streams: AdsStreamRecord[] = [];
  const bootstrapRequests: BootstrapRecord[] = [];

  const snapshot = buildSnapshot({ host: '127.0.0.1', listenerPort: options.listenerPort, appPort: options.appPort });
  const grpcServer = new grpc.Server();
  grpcServer.addService(
    loadAdsService().service,
    adsServiceImplementation({ snapshot, onStream: (record) => streams.push(record), log }),
  );
  const grpcCredentials = options.tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(options.tls.cert), private_key: Buffer.from(options.tls.key) }], false)
    : grpc.ServerCredentials.createInsecure();
  let adsPort: number;
  try {
    adsPort = await bindGrpc(grpcServer, hostPort(host, requestedAdsPort), grpcCredentials);
  } catch (err) {
    grpcServer.forceShutdown();
    throw new Error(`dev control plane: cannot listen for ADS on ${hostPort(host, requestedAdsPort)}: ${(err as Error).message}; pick another --ads-port`);
  }
  const adsUrl = `${scheme}://${hostPort(host, adsPort)}`;

  const handler = bootstrapEndpoint({
    render: (request) => renderBootstrap(request, { adsUrl, caCert: request.caCert || options.tls?.ca || options.tls?.cert }),
    onRequest: (record) => bootstrapRequests.push(record),
    log,
  });
  const httpServer = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
  let port: number;
  try {
    port = await listen(httpServer, host, requestedPort);
  } catch (err) {
    grpcServer.forceShutdown();
    throw new Error(`dev control plane: cannot listen on ${hostPort(host, requestedPort)}: ${(err as Error).message}; pick another --port`);
  }

  return {
    url: `${scheme}://${hostPort(host, port)}`,
    adsUrl,
    port,
    adsPort,
    streams,
    bootstrapRequests,
    close: () =>
      new Promise<void>((resolve) => {
        // Open ADS streams never end by themselves; the dev CP owns them and cuts them.
        grpcServer.forceShutdown();
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
}
