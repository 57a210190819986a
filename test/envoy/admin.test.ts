import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AdminClient,
  AdminRequestError,
  adminAddressFromBootstrap,
  drainQuery,
  parseTextStats,
  sumActiveConnections,
  type AdminAddress,
} from '../../src/envoy/admin.js';

interface Seen {
  method: string;
  url: string;
}

/** A stand-in for Envoy's admin API that records each request and answers from a table. */
function fakeAdmin(routes: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '' });
    const path = (req.url ?? '').split('?')[0]!;
    const route = routes[path];
    if (route) route(req, res);
    else res.writeHead(404).end('invalid path. admin commands are:\n');
  });
  return { server, seen };
}

function postOnly(res: http.ServerResponse, req: http.IncomingMessage): boolean {
  if (req.method === 'POST') return true;
  res.writeHead(400).end('This endpoint requires POST\n');
  return false;
}

const STATS_JSON = JSON.stringify({
  stats: [
    { name: 'listener.0.0.0.0_15006.downstream_cx_active', value: 3 },
    { name: 'listener.0.0.0.0_15006.worker_0.downstream_cx_active', value: 2 },
    { name: 'listener.0.0.0.0_15006.worker_1.downstream_cx_active', value: 1 },
    { name: 'listener.127.0.0.1_8080.downstream_cx_active', value: 4 },
    { name: 'listener.admin.downstream_cx_active', value: 1 },
    { name: 'listener.admin.main_thread.downstream_cx_active', value: 1 },
    { histograms: { supported_quantiles: [0, 25, 50] } },
  ],
});

const STATS_TEXT = [
  'listener.0.0.0.0_15006.downstream_cx_active: 5',
  'listener.0.0.0.0_15006.worker_0.downstream_cx_active: 5',
  'listener.admin.downstream_cx_active: 1',
  '',
].join('\n');

describe('envoy admin client', () => {
  describe('adminAddressFromBootstrap', () => {
    it('reads a socket address in snake_case and camelCase, with a numeric or string port', () => {
      expect(adminAddressFromBootstrap({ admin: { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } } })).to.deep.equal({
        kind: 'tcp',
        host: '127.0.0.1',
        port: 9901,
      });
      expect(adminAddressFromBootstrap({ admin: { address: { socketAddress: { address: '::1', portValue: '9902' } } } })).to.deep.equal({
        kind: 'tcp',
        host: '::1',
        port: 9902,
      });
    });

    it('reads a pipe path', () => {
      expect(adminAddressFromBootstrap({ admin: { address: { pipe: { path: '/tmp/envoy-admin.sock' } } } })).to.deep.equal({
        kind: 'unix',
        path: '/tmp/envoy-admin.sock',
      });
    });

    it('returns undefined when there is no usable admin address', () => {
      expect(adminAddressFromBootstrap(undefined)).to.equal(undefined);
      expect(adminAddressFromBootstrap({})).to.equal(undefined);
      expect(adminAddressFromBootstrap({ admin: { address: { socket_address: { address: '127.0.0.1' } } } })).to.equal(undefined);
      expect(adminAddressFromBootstrap({ admin: { address: { socket_address: { address: '127.0.0.1', port_value: 'x' } } } })).to.equal(
        undefined,
      );
    });
  });

  describe('sumActiveConnections', () => {
    it('sums listener gauges without the admin listener and per-worker duplicates', () => {
      expect(
        sumActiveConnections([
          { name: 'listener.0.0.0.0_15006.downstream_cx_active', value: 3 },
          { name: 'listener.0.0.0.0_15006.worker_0.downstream_cx_active', value: 3 },
          { name: 'listener.inbound_10.0.0.1_80.downstream_cx_active', value: 2 },
          { name: 'listener.admin.downstream_cx_active', value: 7 },
          { name: 'listener.admin.main_thread.downstream_cx_active', value: 7 },
          { name: 'http.ingress.downstream_cx_active', value: 11 },
        ]),
      ).to.equal(5);
    });

    it('is 0 for no stats', () => {
      expect(sumActiveConnections([])).to.equal(0);
    });

    it('parses the text format', () => {
      expect(parseTextStats(STATS_TEXT)).to.deep.equal([
        { name: 'listener.0.0.0.0_15006.downstream_cx_active', value: 5 },
        { name: 'listener.0.0.0.0_15006.worker_0.downstream_cx_active', value: 5 },
        { name: 'listener.admin.downstream_cx_active', value: 1 },
      ]);
    });
  });

  describe('drainQuery', () => {
    it('drains with skip_exit on Envoy 1.27 and later', () => {
      expect(drainQuery('1.34.1', { inboundOnly: true })).to.equal('inboundonly&graceful&skip_exit');
      expect(drainQuery('1.27.0', { inboundOnly: false })).to.equal('graceful&skip_exit');
    });

    it('sends no drain_listeners on older Envoy, where every query ends with stopped listeners', () => {
      expect(drainQuery('1.26.7', { inboundOnly: true })).to.equal(undefined);
      expect(drainQuery('1.20.0-dev', { inboundOnly: false })).to.equal(undefined);
    });
  });

  for (const transport of ['tcp', 'unix'] as const) {
    describe(`over ${transport}`, () => {
      let dir: string;
      let address: AdminAddress;
      let admin: ReturnType<typeof fakeAdmin>;
      let statsBody = STATS_JSON;
      let readyState = 'LIVE';

      beforeEach(async () => {
        statsBody = STATS_JSON;
        readyState = 'LIVE';
        admin = fakeAdmin({
          '/ready': (_req, res) => {
            res.writeHead(readyState === 'LIVE' ? 200 : 503, { 'content-type': 'text/plain; charset=UTF-8' }).end(`${readyState}\n`);
          },
          '/server_info': (_req, res) => {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ version: 'abc/1.34.1/Clean/RELEASE/BoringSSL', state: 'LIVE' }));
          },
          '/healthcheck/fail': (req, res) => {
            if (postOnly(res, req)) {
              readyState = 'DRAINING';
              res.writeHead(200).end('OK\n');
            }
          },
          '/drain_listeners': (req, res) => {
            if (!postOnly(res, req)) return;
            const query = new URL(req.url ?? '', 'http://localhost').searchParams;
            if (query.has('skip_exit') && !query.has('graceful')) res.writeHead(400).end('skip_exit requires graceful\n');
            else res.writeHead(200).end('OK\n');
          },
          '/quitquitquit': (req, res) => {
            if (postOnly(res, req)) res.writeHead(200).end('OK\n');
          },
          '/stats': (_req, res) => {
            res.writeHead(200).end(statsBody);
          },
        });
        if (transport === 'tcp') {
          await new Promise<void>((resolve) => admin.server.listen(0, '127.0.0.1', resolve));
          address = { kind: 'tcp', host: '127.0.0.1', port: (admin.server.address() as AddressInfo).port };
        } else {
          dir = mkdtempSync(join(tmpdir(), 'kuma-dp-admin-'));
          const path = join(dir, 'admin.sock');
          await new Promise<void>((resolve) => admin.server.listen(path, resolve));
          address = { kind: 'unix', path };
        }
      });

      afterEach(async () => {
        await new Promise((resolve) => admin.server.close(resolve));
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      it('reports /ready as is, 503 included, and fails health checks with a POST', async () => {
        const client = new AdminClient(address);
        const live = await client.ready();
        expect(live.status).to.equal(200);
        expect(live.body).to.equal('LIVE\n');
        expect(live.headers['content-type']).to.equal('text/plain; charset=UTF-8');
        await client.healthcheckFail();
        const draining = await client.ready();
        expect(draining).to.include({ status: 503, body: 'DRAINING\n' });
        expect(admin.seen.find((r) => r.url === '/healthcheck/fail')?.method).to.equal('POST');
      });

      it('posts drain_listeners with the query', async () => {
        const client = new AdminClient(address);
        await client.drainListeners('inboundonly&graceful&skip_exit');
        expect(admin.seen).to.deep.equal([{ method: 'POST', url: '/drain_listeners?inboundonly&graceful&skip_exit' }]);
      });

      it('sums active connections from the JSON stats, with the filter URL-encoded', async () => {
        const client = new AdminClient(address);
        expect(await client.activeDownstreamConnections()).to.equal(7);
        const url = new URL(admin.seen[0]!.url, 'http://localhost');
        expect(url.pathname).to.equal('/stats');
        expect(url.searchParams.get('filter')).to.equal('^listener\\..*\\.downstream_cx_active$');
        expect(url.searchParams.get('format')).to.equal('json');
        expect(admin.seen[0]!.url).to.not.match(/[\\^$]/);
      });

      it('falls back to the text stats format', async () => {
        statsBody = STATS_TEXT;
        expect(await new AdminClient(address).activeDownstreamConnections()).to.equal(5);
      });

      it('throws with the status and body on a non-200 answer', async () => {
        const failed = await new AdminClient(address)
          .drainListeners('skip_exit')
          .then(() => undefined)
          .catch((e: unknown) => e);
        expect(failed).to.be.instanceOf(AdminRequestError);
        expect(failed).to.include({ status: 400, body: 'skip_exit requires graceful\n', method: 'POST' });
        expect((failed as Error).message).to.contain('answered 400').and.contain('skip_exit requires graceful');
      });
    });
  }

  it('rejects with a clear error when nothing listens, and times out on a silent server', async () => {
    const silent = http.createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      const timeout = await new AdminClient({ kind: 'tcp', host: '127.0.0.1', port }, { timeoutMs: 150 })
        .ready()
        .catch((e: Error) => e);
      expect((timeout as Error).message).to.contain('timed out after 150ms');
      expect(Date.now() - started).to.be.lessThan(2000);
    } finally {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    }
    const refused = await new AdminClient({ kind: 'tcp', host: '127.0.0.1', port }).ready().catch((e: Error) => e);
    expect((refused as Error).message).to.contain('ECONNREFUSED').and.contain(`127.0.0.1:${port}`);
  });
});
