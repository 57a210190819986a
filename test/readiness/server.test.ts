import { expect } from 'chai';
import http from 'node:http';
import { ConfigError } from '../../src/errors.js';
import { Logger } from '../../src/logging/logger.js';
import { readinessHost, startReadinessServer, type ReadinessAnswer, type ReadinessServer } from '../../src/readiness/server.js';

interface Reply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

function request(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('readiness reporter', () => {
  let server: ReadinessServer | undefined;
  let answer: () => Promise<ReadinessAnswer>;
  let probes = 0;

  beforeEach(async () => {
    probes = 0;
    answer = async () => ({ status: 200, body: 'LIVE\n', headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-envoy': 'yes' } });
    server = await startReadinessServer({
      host: '127.0.0.1',
      port: 0,
      logger: Logger.silent(),
      probe: () => {
        probes += 1;
        return answer();
      },
    });
  });

  afterEach(async () => {
    await server?.close();
  });

  it("serves the probe's answer on /ready with kuma-dp's cache headers", async () => {
    const reply = await request(server!.port, '/ready');
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal('LIVE\n');
    expect(reply.headers['cache-control']).to.equal('no-cache, max-age=0');
    expect(reply.headers['x-powered-by']).to.equal('kuma-dp');
    expect(reply.headers['content-type']).to.equal('text/plain; charset=UTF-8');
    expect(reply.headers['x-envoy']).to.equal('yes');
    expect(reply.headers['content-length']).to.equal('5');
  });

  it('answers HEAD without a body and ignores a query string', async () => {
    const head = await request(server!.port, '/ready', 'HEAD');
    expect(head.status).to.equal(200);
    expect(head.body).to.equal('');
    expect(head.headers['x-powered-by']).to.equal('kuma-dp');
    expect((await request(server!.port, '/ready?verbose=1')).status).to.equal(200);
  });

  it('answers 404 for every other path, subpaths included, without asking the probe', async () => {
    for (const path of ['/', '/ready/', '/ready/x', '/readyz', '/stats', '/quitquitquit', '//ready']) {
      const reply = await request(server!.port, path);
      expect(reply.status, path).to.equal(404);
      expect(reply.headers['x-powered-by'], path).to.equal('kuma-dp');
    }
    expect(probes).to.equal(0);
  });

  it('refuses other methods on /ready', async () => {
    const reply = await request(server!.port, '/ready', 'POST');
    expect(reply.status).to.equal(405);
    expect(reply.headers.allow).to.equal('GET, HEAD');
    expect(probes).to.equal(0);
  });

  it('passes a 503 through and answers 503 "envoy not ready" when the probe fails', async () => {
    answer = async () => ({ status: 503, body: 'TERMINATING' });
    expect(await request(server!.port, '/ready')).to.include({ status: 503, body: 'TERMINATING' });
    answer = async () => {
      throw new Error('connect ECONNREFUSED');
    };
    const reply = await request(server!.port, '/ready');
    expect(reply).to.include({ status: 503, body: 'envoy not ready' });
    expect(reply.headers['cache-control']).to.equal('no-cache, max-age=0');
    answer = () => {
      throw new Error('thrown before any promise');
    };
    expect(await request(server!.port, '/ready')).to.include({ status: 503, body: 'envoy not ready' });
  });

  it('fails with a one-line ConfigError naming the port and KUMA_READINESS_PORT when the port is taken', async () => {
    const err = await startReadinessServer({
      host: '127.0.0.1',
      port: server!.port,
      logger: Logger.silent(),
      probe: answer,
    }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigError);
    const line = (err as ConfigError).line;
    expect(line).to.contain(String(server!.port)).and.contain('KUMA_READINESS_PORT').and.contain('in use');
    expect(line).to.not.contain('\n');
  });

  it('stops listening on close', async () => {
    const port = server!.port;
    await server!.close();
    server = undefined;
    const err = await request(port, '/ready').catch((e: NodeJS.ErrnoException) => e);
    expect((err as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
  });

  describe('readinessHost', () => {
    const uds = { kind: 'unix', path: '/tmp/admin.sock' } as const;

    it('binds next to a TCP admin API', () => {
      expect(readinessHost({ POD_NAME: 'web-1' }, { kind: 'tcp', host: '127.0.0.1', port: 9901 })).to.equal('127.0.0.1');
      expect(readinessHost({}, { kind: 'tcp', host: '::1', port: 9901 })).to.equal('::1');
    });

    it('with admin on a unix socket: all interfaces in a pod, loopback otherwise', () => {
      expect(readinessHost({ POD_NAME: 'web-1' }, uds)).to.equal('0.0.0.0');
      expect(readinessHost({}, uds)).to.equal('127.0.0.1');
      expect(readinessHost({ POD_NAME: '' }, uds)).to.equal('127.0.0.1');
      expect(readinessHost({ POD_NAME: 'web-1' }, uds, 'fd00::5')).to.equal('::');
      expect(readinessHost({}, uds, 'fd00::5')).to.equal('::1');
      expect(readinessHost({}, uds, '10.0.0.5')).to.equal('127.0.0.1');
    });
  });
});
