import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

/**
 * A loopback stand-in for Envoy's download sources, serving both layouts:
 * - Envoy's releases: `<baseUrl>/v<V>/envoy-<V>-linux-{x86_64,aarch_64}` and `<baseUrl>/v<V>/checksums.txt.asc`
 *   (a PGP clear-signed sha256sum list, with a fake signature);
 * - a func-e versions index at `<indexUrl>` whose tarballs live under `/index/download/`.
 * Every request is recorded, and faults can be set per path.
 */

const DOUBLE = fileURLToPath(new URL('../doubles/envoy-double.js', import.meta.url));
const BUILD_SHA = 'b5ca88acee3453c9459474b8f22215796eff4dde';

export type Fault =
  /** Answer with this status (for the first `times` requests, then normally). */
  | { kind: 'status'; status: number; times?: number }
  /** Send the headers and `afterBytes` of the body, then drop the connection. */
  | { kind: 'cut'; afterBytes: number; times?: number }
  /** Send the headers and `afterBytes` of the body, then nothing more (until the mirror closes). */
  | { kind: 'stall'; afterBytes: number }
  /** Flip one byte of the body (the checksum no longer matches). */
  | { kind: 'corrupt' }
  /** Send half of the body, then the rest once the test calls release(path). */
  | { kind: 'hold' };

export interface TarEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  body?: Buffer;
  linkpath?: string;
  mode?: number;
}

export interface BinaryOptions {
  /** What `--version` prints as the release; defaults to the version served. */
  reportsVersion?: string;
  /** Bytes of comment padding after the script, so downloads have a body worth cutting. */
  padBytes?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  host: string;
}

const PLATFORM_ARCHES = ['x86_64', 'aarch_64'] as const;
const INDEX_PLATFORMS = ['linux/amd64', 'linux/arm64', 'darwin/arm64', 'darwin/amd64'];

/**
 * The "Envoy" served: a shell script that prints Envoy's `--version` banner for its version and
 * otherwise runs the Envoy double (dist/test/doubles/envoy-double.js) as that version, if built.
 */
export function fakeEnvoy(version: string, { reportsVersion = version, padBytes = 64 * 1024 }: BinaryOptions = {}): Buffer {
  const run = existsSync(DOUBLE)
    ? `ENVOY_DOUBLE_VERSION="\${ENVOY_DOUBLE_VERSION:-${reportsVersion}}" exec '${process.execPath}' '${DOUBLE}' "$@"`
    : `echo "fake envoy ${reportsVersion}: no Envoy double built" >&2; exit 1`;
  const script = [
    '#!/bin/sh',
    'if [ "$1" = "--version" ]; then',
    `  printf '\\nenvoy  version: ${BUILD_SHA}/${reportsVersion}/Clean/RELEASE/BoringSSL\\n\\n'`,
    '  exit 0',
    'fi',
    run,
    '',
  ].join('\n');
  const line = `# ${'x'.repeat(77)}\n`;
  return Buffer.concat([Buffer.from(script), Buffer.from(line.repeat(Math.ceil(padBytes / line.length)))]);
}

/** A tar stream written header by header, so tests can build archives no tar tool would. */
export function tarball(entries: TarEntry[], compression: 'gz' | 'xz'): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const type = entry.type ?? 'File';
    const body = type === 'File' ? (entry.body ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const header = new Header({
      path: entry.path,
      type,
      mode: entry.mode ?? 0o755,
      size: body.length,
      linkpath: entry.linkpath ?? '',
      mtime: new Date('2025-05-01T00:00:00Z'),
      uid: 65534,
      gid: 65534,
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  const tar = Buffer.concat(blocks);
  if (compression === 'gz') return gzipSync(tar);
  const xz = spawnSync('xz', ['-c', '-0'], { input: tar, maxBuffer: 1 << 30 });
  if (xz.status !== 0) throw new Error(`xz failed: ${xz.stderr?.toString() ?? xz.error?.message}`);
  return xz.stdout;
}

export function envoyTarball(version: string, platform: string, compression: 'gz' | 'xz', binary = fakeEnvoy(version)): Buffer {
  const top = `envoy-v${version}-${platform.replace('/', '-')}`;
  return tarball(
    [
      { path: `${top}/`, type: 'Directory' },
      { path: `${top}/bin/`, type: 'Directory' },
      { path: `${top}/bin/envoy`, body: binary },
      { path: `${top}/LICENSE`, body: Buffer.from('Apache-2.0\n'), mode: 0o644 },
    ],
    compression,
  );
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Envoy's checksums.txt.asc shape: a clear-signed sha256sum list. */
export function clearSigned(lines: string[]): string {
  const escaped = lines.map((l) => (l.startsWith('-') ? `- ${l}` : l));
  return [
    '-----BEGIN PGP SIGNED MESSAGE-----',
    'Hash: SHA512',
    '',
    ...escaped,
    '-----BEGIN PGP SIGNATURE-----',
    '',
    'iQIzBAEBCgAdFiEEfakefakefakefakefakefakefakefakeFAKE=',
    '=FAKE',
    '-----END PGP SIGNATURE-----',
    '',
  ].join('\n');
}

interface IndexVersion {
  tarballs: Record<string, string>;
}

export class Mirror {
  readonly requests: RecordedRequest[] = [];
  private readonly files = new Map<string, Buffer>();
  private readonly faults = new Map<string, Fault & { served: number }>();
  /** Responses held by a `hold` fault, by path. */
  private readonly held = new Map<string, (() => void)[]>();
  private readonly checksums = new Map<string, string[]>();
  private readonly index: { versions: Record<string, IndexVersion>; sha256sums: Record<string, string> } = { versions: {}, sha256sums: {} };

  private constructor(
    private readonly server: Server,
    readonly origin: string,
  ) {}

  /** Over https when given a certificate and key (clients must trust the certificate). */
  static async start(tls?: { cert: string; key: string }): Promise<Mirror> {
    const server = tls ? createHttpsServer(tls) : createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const mirror = new Mirror(server, `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req, res) => mirror.handle(req, res));
    return mirror;
  }

  /** Base URL of the release layout (for --download-base-url). */
  get baseUrl(): string {
    return `${this.origin}/releases`;
  }

  /** The versions index (for --envoy-versions-url). */
  get indexUrl(): string {
    return `${this.origin}/index/envoy-versions.json`;
  }

  releasePath(version: string, arch: (typeof PLATFORM_ARCHES)[number] = process.arch === 'arm64' ? 'aarch_64' : 'x86_64'): string {
    return `/releases/v${version}/envoy-${version}-linux-${arch}`;
  }

  /** Publishes `version` in Envoy's release layout, for both Linux architectures. */
  addRelease(version: string, options: BinaryOptions = {}): this {
    const binary = fakeEnvoy(version, options);
    const lines: string[] = [];
    for (const arch of PLATFORM_ARCHES) {
      this.files.set(this.releasePath(version, arch), binary);
      lines.push(`${sha256(binary)}  envoy-${version}-linux-${arch}`);
      lines.push(`${sha256(Buffer.from(arch))}  envoy-contrib-${version}-linux-${arch}`);
    }
    this.checksums.set(version, lines);
    return this;
  }

  /** Publishes `version` in the index, one tarball per platform; `tarball` replaces the well-formed one. */
  addIndexRelease(version: string, compression: 'gz' | 'xz' = 'xz', options: BinaryOptions & { tarball?: Buffer } = {}): this {
    const tarballs: Record<string, string> = {};
    for (const platform of INDEX_PLATFORMS) {
      const name = `envoy-v${version}-${platform.replace('/', '-')}.tar.${compression}`;
      const path = `/index/download/v${version}/${name}`;
      const data = options.tarball ?? envoyTarball(version, platform, compression, fakeEnvoy(version, options));
      this.files.set(path, data);
      this.index.sha256sums[name] = sha256(data);
      tarballs[platform] = `${this.origin}${path}`;
    }
    this.index.versions[version] = { tarballs };
    return this;
  }

  /** Lets every response held on `path` finish. */
  release(path: string): void {
    for (const finish of this.held.get(path)?.splice(0) ?? []) finish();
  }

  setFault(path: string, fault: Fault | undefined): void {
    if (fault) this.faults.set(path, { ...fault, served: 0 });
    else this.faults.delete(path);
  }

  /** GET requests that reached `path`. */
  hits(path: string): number {
    return this.requests.filter((r) => r.method === 'GET' && r.path === path).length;
  }

  /** Requests for anything but the small documents (index, checksums): the downloads proper. */
  downloads(): number {
    return this.requests.filter((r) => !/(checksums\.txt\.asc|envoy-versions\.json)$/.test(r.path)).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private body(path: string): Buffer | undefined {
    const release = /^\/releases\/v([^/]+)\/checksums\.txt\.asc$/.exec(path);
    if (release) {
      const lines = this.checksums.get(release[1]!);
      return lines && Buffer.from(clearSigned(lines));
    }
    if (path === '/index/envoy-versions.json') {
      const latest = Object.keys(this.index.versions).sort().pop() ?? '';
      return Buffer.from(JSON.stringify({ latestVersion: latest, ...this.index }, null, 2));
    }
    return this.files.get(path);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', this.origin).pathname;
    this.requests.push({ method: req.method ?? '', path, host: req.headers.host ?? '' });
    const body = this.body(path);
    if (!body) {
      res.writeHead(404).end('Not Found\n');
      return;
    }
    const fault = this.faults.get(path);
    const active = fault && (!('times' in fault) || fault.times === undefined || fault.served < fault.times) ? fault : undefined;
    if (fault && active) fault.served++;
    res.setHeader('content-type', 'application/octet-stream');
    res.setHeader('content-length', body.length);
    switch (active?.kind) {
      case 'status':
        res.removeHeader('content-length');
        res.writeHead(active.status).end(`status ${active.status}\n`);
        return;
      case 'cut':
        res.writeHead(200);
        res.write(body.subarray(0, active.afterBytes), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      case 'stall':
        res.writeHead(200);
        res.write(body.subarray(0, active.afterBytes));
        return;
      case 'corrupt': {
        const copy = Buffer.from(body);
        copy[copy.length >> 1] ^= 0xff;
        res.writeHead(200).end(copy);
        return;
      }
      case 'hold': {
        res.writeHead(200);
        const half = body.length >> 1;
        res.write(body.subarray(0, half));
        const waiting = this.held.get(path) ?? [];
        waiting.push(() => res.end(body.subarray(half)));
        this.held.set(path, waiting);
        return;
      }
      default:
        res.writeHead(200).end(req.method === 'HEAD' ? undefined : body);
    }
  }
}

const PROXY_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'];

/**
 * proxy-from-env reads process.env: a developer's proxy must not capture the requests in-process
 * installs send to the loopback mirror. Returns the function that puts the variables back.
 */
export function withoutProxyEnv(): () => void {
  const saved = PROXY_VARS.map((name) => [name, process.env[name]] as const);
  for (const name of PROXY_VARS) delete process.env[name];
  return () => {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  };
}
