/**
 * kuma-cp's `POST /bootstrap` wire format (reference/kuma-dp.md §2): a JSON request describing the
 * dataplane, answered with `{"bootstrap": "<base64 YAML>", "kumaSidecarConfiguration": {...}}`
 * when the client accepts JSON, or the raw YAML (`text/x-yaml`) otherwise.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The request fields the dev control plane uses; kuma-dp sends more, which are ignored. */
export interface BootstrapRequest {
  mesh: string;
  name: string;
  proxyType?: string;
  dataplaneToken?: string;
  /** The rendered Dataplane as a JSON string (not an object), like kuma-dp sends it. */
  dataplaneResource?: string;
  workdir?: string;
  caCert?: string;
  systemCaPath?: string;
  features?: string[];
  readinessPort?: number;
  dnsPort?: number;
  version?: { kumaDp?: Record<string, unknown>; envoy?: Record<string, unknown> };
}

export interface BootstrapRecord {
  mesh: string;
  name: string;
  /** Whether a token came in the body; the token itself is not kept. */
  token: boolean;
  workdir: string | undefined;
}

type ParsedRequest = { request: BootstrapRequest } | { status: number; message: string };

function parseBootstrapRequest(text: string): ParsedRequest {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { status: 400, message: `could not parse the request body as JSON: ${(err as Error).message}` };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { status: 400, message: 'the request body must be a JSON object' };
  }
  const { mesh, name } = body as Record<string, unknown>;
  const missing = [typeof mesh === 'string' && mesh ? '' : 'mesh', typeof name === 'string' && name ? '' : 'name'].filter(Boolean);
  if (missing.length > 0) {
    return { status: 422, message: `${missing.join(' and ')} required: kuma-dp sends them from --mesh/--name or the Dataplane` };
  }
  return { request: body as BootstrapRequest };
}

/** The dataplane's address from its rendered resource, for `kumaSidecarConfiguration`. */
function dataplaneAddress(request: BootstrapRequest): string {
  try {
    const resource = JSON.parse(request.dataplaneResource ?? '{}') as { networking?: { address?: unknown } };
    if (typeof resource.networking?.address === 'string') return resource.networking.address;
  } catch {
    // A malformed resource is the generator's concern; the address falls back to loopback.
  }
  return '127.0.0.1';
}

export interface BootstrapEndpointOptions {
  render: (request: BootstrapRequest) => string;
  onRequest: (record: BootstrapRecord) => void;
  log: (line: string) => void;
}

const MAX_BODY = 1 << 20;

export function bootstrapEndpoint({ render, onRequest, log }: BootstrapEndpointOptions) {
  function reply(res: ServerResponse, status: number, contentType: string, body: string): void {
    res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/bootstrap') return reply(res, 404, 'text/plain', `no such endpoint ${path}; the dev control plane serves POST /bootstrap\n`);
    if (req.method !== 'POST') return reply(res, 405, 'text/plain', 'use POST /bootstrap\n');
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reply(res, 413, 'text/plain', 'request body too large\n');
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      const parsed = parseBootstrapRequest(Buffer.concat(chunks).toString('utf8'));
      if ('status' in parsed) {
        log(`POST /bootstrap refused (${parsed.status}): ${parsed.message}`);
        return reply(res, parsed.status, 'text/plain', `${parsed.message}\n`);
      }
      const { request } = parsed;
      onRequest({ mesh: request.mesh, name: request.name, token: Boolean(request.dataplaneToken), workdir: request.workdir });
      let yaml: string;
      try {
        yaml = render(request);
      } catch (err) {
        // kuma-cp answers what it cannot classify with 500, which kuma-dp retries.
        const message = `could not generate the bootstrap of ${request.mesh}.${request.name}: ${(err as Error).message}`;
        log(`POST /bootstrap failed (500): ${message}`);
        return reply(res, 500, 'text/plain', `${message}\n`);
      }
      log(`POST /bootstrap: served the bootstrap of ${request.mesh}.${request.name} (token ${request.dataplaneToken ? 'present' : 'absent'})`);
      if (!(req.headers.accept ?? '').includes('application/json')) return reply(res, 200, 'text/x-yaml', yaml);
      const body = {
        bootstrap: Buffer.from(yaml).toString('base64'),
        kumaSidecarConfiguration: { networking: { address: dataplaneAddress(request) }, metrics: { aggregate: [] } },
      };
      reply(res, 200, 'application/json', JSON.stringify(body));
    });
  };
}
