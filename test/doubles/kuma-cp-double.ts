import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dump } from 'js-yaml';

/**
 * A fake kuma-cp DP server answering `POST /bootstrap` the way kuma-cp does (kuma-dp.md section 2).
 * One step of a scripted sequence is used per /bootstrap request; once the script is used up every
 * request gets a bootstrap.
 */
export type ScriptStep =
  | 'ok'
  /** Answer with this status and body (body defaults to ''). */
  | { status: number; body?: string }
  /** Destroy the socket without answering. */
  | { refuse: true }
  /** Wait, then answer with `status`/`body` if given, else with a bootstrap. */
  | { delayMs: number; status?: number; body?: string };

export interface BootstrapRequestRecord {
  /** Epoch ms when the request was complete. */
  t: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** The parsed JSON body, or undefined when it did not parse. */
  body: BootstrapRequestBody | undefined;
  /** What the double did: an HTTP status, or 'refused'. */
  outcome: number | 'refused';
}

/** The fields of kuma-dp's request that the double reads; the rest stay available untyped. */
export interface BootstrapRequestBody {
  mesh?: string;
  name?: string;
  workdir?: string;
  dataplaneToken?: string;
  [key: string]: unknown;
}

export interface KumaCpDoubleOptions {
  /** A fixed bootstrap YAML for every successful answer. */
  bootstrapYaml?: string;
  /** Computes the bootstrap YAML per request (wins over bootstrapYaml). */
  bootstrapForRequest?: (request: BootstrapRequestRecord) => string;
  /** Put the admin API of the default bootstrap on TCP 127.0.0.1:<adminPort> (0 = ephemeral) instead of `<workdir>/kuma-envoy-admin.sock`. */
  adminPort?: number;
  /** Add ADS (delta gRPC, LDS+CDS over ADS) pointing at this address to the default bootstrap. */
  ads?: { address: string; port: number };
  script?: ScriptStep[];
  /** Serve HTTPS with these PEMs instead of HTTP. */
  tls?: { key: string; cert: string };
  /** Answer 422 like kuma-cp when the request carries no dataplaneToken. */
  requireToken?: boolean;
  /** kumaSidecarConfiguration.networking.address; default 127.0.0.1. */
  networkingAddress?: string;
}

export interface KumaCpDouble {
  /** Base URL, e.g. `http://127.0.0.1:40123` (no path). */
  url: string;
  port: number;
  requests: BootstrapRequestRecord[];
  setScript(steps: ScriptStep[]): void;
  close(): Promise<void>;
}

export const TOKEN_REQUIRED_MESSAGE =
  "Dataplane Token is required. Generate token using 'kumactl generate dataplane-token > /path/file' and provide it via --dataplane-token-file=/path/file argument to Kuma DP";

/** The bootstrap kuma-cp would send, reduced to what Envoy (or the double) needs to start. */
export function defaultBootstrapYaml(
  body: BootstrapRequestBody | undefined,
  opts: Pick<KumaCpDoubleOptions, 'adminPort' | 'ads'> = {},
): string {
  const mesh = body?.mesh ?? 'default';
  const name = body?.name ?? 'dataplane';
  const admin =
    opts.adminPort !== undefined || !body?.workdir
      ? { socket_address: { address: '127.0.0.1', port_value: opts.adminPort ?? 0 } }
      : { pipe: { path: `${body.workdir}/kuma-envoy-admin.sock`, mode: 0o600 } };
  const bootstrap: Record<string, unknown> = {
    node: {
      id: `${mesh}.${name}`,
      cluster: name,
      metadata: { version: body?.version ?? {}, features: body?.features ?? [], workdir: body?.workdir ?? '' },
    },
    admin: { access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/dev/null' } }], address: admin },
  };
  if (opts.ads) {
    const viaAds = { ads: {}, resource_api_version: 'V3', initial_fetch_timeout: '0s' };
    bootstrap.dynamic_resources = {
      lds_config: viaAds,
      cds_config: viaAds,
      ads_config: {
        api_type: 'DELTA_GRPC',
        transport_api_version: 'V3',
        set_node_on_first_message_only: true,
        grpc_services: [{ envoy_grpc: { cluster_name: 'ads_cluster' } }],
      },
    };
    bootstrap.static_resources = {
      clusters: [
        {
          name: 'ads_cluster',
          type: 'STATIC',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: 'ads_cluster',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: opts.ads.address, port_value: opts.ads.port } } } }] }],
          },
        },
      ],
    };
  }
  return dump(bootstrap);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startKumaCpDouble(opts: KumaCpDoubleOptions = {}): Promise<KumaCpDouble> {
  let script = [...(opts.script ?? [])];
  const requests: BootstrapRequestRecord[] = [];

  const send = (res: ServerResponse, rec: BootstrapRequestRecord, status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
    rec.outcome = status;
    res.writeHead(status, { 'content-type': type });
    res.end(body);
  };

  const answerOk = (res: ServerResponse, rec: BootstrapRequestRecord): void => {
    if (opts.requireToken && !rec.body?.dataplaneToken) return send(res, rec, 422, TOKEN_REQUIRED_MESSAGE);
    const yaml = opts.bootstrapForRequest?.(rec) ?? opts.bootstrapYaml ?? defaultBootstrapYaml(rec.body, opts);
    if (!/application\/json/.test(rec.headers.accept ?? '')) return send(res, rec, 200, yaml, 'text/x-yaml');
    send(
      res,
      rec,
      200,
      JSON.stringify({
        bootstrap: Buffer.from(yaml, 'utf8').toString('base64'),
        kumaSidecarConfiguration: {
          networking: { address: opts.networkingAddress ?? '127.0.0.1' },
          metrics: { aggregate: [] },
        },
      }),
      'application/json',
    );
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const rawBody = await readBody(req);
    const rec: BootstrapRequestRecord = {
      t: Date.now(),
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      rawBody,
      body: undefined,
      outcome: 0,
    };
    try {
      const parsed: unknown = JSON.parse(rawBody);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) rec.body = parsed as BootstrapRequestBody;
    } catch {
      // left undefined; answered with 400 below
    }
    requests.push(rec);
    if (new URL(rec.path, 'http://cp').pathname !== '/bootstrap') return send(res, rec, 404, '404 page not found\n');
    if (rec.method !== 'POST') return send(res, rec, 405, 'Method Not Allowed\n');
    const step = script.shift() ?? 'ok';
    if (step !== 'ok' && 'refuse' in step) {
      rec.outcome = 'refused';
      req.socket.destroy();
      return;
    }
    if (step !== 'ok' && 'delayMs' in step) await new Promise((resolve) => setTimeout(resolve, step.delayMs));
    if (step !== 'ok' && step.status !== undefined) return send(res, rec, step.status, step.body ?? '');
    // kuma-cp decodes the body whatever its content type; the double is stricter so a client bug shows.
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) {
      return send(res, rec, 400, `content-type must be application/json, got ${req.headers['content-type'] ?? 'none'}`);
    }
    if (!rec.body) return send(res, rec, 400, 'Could not parse the request body as a JSON object');
    answerOk(res, rec);
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500).end(err.message);
    });
  };
  const server: Server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, listener) : createHttpServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    requests,
    setScript(steps) {
      script = [...steps];
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
