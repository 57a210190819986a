import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, KumaDpError } from '../../src/errors.js';
import { Logger } from '../../src/logging/logger.js';
import { waitForReady, waitTarget } from '../../src/readiness/wait.js';
import { waitFor } from '../support/wait.js';

/** Answers 503 to the first `notReadyFor` requests on /ready, then 200. */
function readyAfter(notReadyFor: number) {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    if (seen.length <= notReadyFor) res.writeHead(503).end('INITIALIZING\n');
    else res.writeHead(200).end('LIVE\n');
  });
  return { server, seen };
}

function listenTcp(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('kuma-dp wait', () => {
  let dir: string;
  let logPath: string;
  let logger: Logger;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kuma-dp-wait-'));
    logPath = join(dir, 'log.json');
    logger = Logger.create({ level: 'info', format: 'json', outputPath: logPath });
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function messages(): string[] {
    return readFileSync(logPath, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { message: string }).message);
  }

  it('retries until 200, logging each failure', async () => {
    const { server, seen } = readyAfter(2);
    const port = await listenTcp(server);
    try {
      await waitForReady({ url: `http://127.0.0.1:${port}/ready`, checkFrequencyMs: 20, timeoutMs: 5000, logger });
    } finally {
      await close(server);
    }
    expect(seen).to.deep.equal(['/ready', '/ready', '/ready']);
    expect(messages()).to.deep.equal(['data plane proxy is not ready', 'data plane proxy is not ready', 'data plane proxy is ready']);
  });

  it('keeps trying while nothing listens yet', async () => {
    const { server } = readyAfter(0);
    const port = await listenTcp(server);
    await close(server);
    const waiting = waitForReady({ url: `http://localhost:${port}/ready`, checkFrequencyMs: 20, timeoutMs: 5000, logger });
    // Wait for at least one refused attempt before the port comes back.
    await waitFor(() => messages().includes('data plane proxy is not ready'), { timeoutMs: 3000, what: 'a refused attempt' });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      await waiting;
    } finally {
      await close(server);
    }
    expect(messages()[0]).to.equal('data plane proxy is not ready');
    expect(messages().at(-1)).to.equal('data plane proxy is ready');
  });

  it('GETs /ready over a unix socket', async () => {
    const { server, seen } = readyAfter(1);
    const path = join(dir, 'admin.sock');
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      await waitForReady({ unixSocket: path, url: 'http://example.com/ignored', checkFrequencyMs: 20, timeoutMs: 5000, logger });
    } finally {
      await close(server);
    }
    expect(seen).to.deep.equal(['/ready', '/ready']);
  });

  it('fails with exit 1 at the deadline', async () => {
    const { server } = readyAfter(Infinity);
    const port = await listenTcp(server);
    const started = Date.now();
    let err: unknown;
    try {
      err = await waitForReady({ url: `http://127.0.0.1:${port}/ready`, checkFrequencyMs: 30, timeoutMs: 200, logger }).catch((e: unknown) => e);
    } finally {
      await close(server);
    }
    expect(err).to.be.instanceOf(KumaDpError);
    expect(err).to.not.be.instanceOf(ConfigError);
    expect((err as KumaDpError).exitCode).to.equal(1);
    expect((err as KumaDpError).message).to.equal('timeout occurred while waiting for data plane proxy to be ready');
    expect(Date.now() - started).to.be.within(190, 1500);
    expect(messages().length).to.be.greaterThan(1);
  });

  it('bounds each request by the request timeout', async () => {
    const hanging = http.createServer(() => {
      // never answers
    });
    const port = await listenTcp(hanging);
    const started = Date.now();
    try {
      const err = await waitForReady({
        url: `http://127.0.0.1:${port}/ready`,
        checkFrequencyMs: 10,
        requestTimeoutMs: 50,
        timeoutMs: 300,
        logger,
      }).catch((e: unknown) => e);
      expect((err as Error).message).to.contain('timeout occurred');
    } finally {
      hanging.closeAllConnections();
      await close(hanging);
    }
    expect(Date.now() - started).to.be.lessThan(1500);
    expect(messages().length).to.be.greaterThanOrEqual(3);
  });

  it('stops when aborted, at once, not at its next check', async () => {
    const { server } = readyAfter(Infinity);
    const port = await listenTcp(server);
    const controller = new AbortController();
    try {
      const waiting = waitForReady({
        url: `http://127.0.0.1:${port}/ready`,
        checkFrequencyMs: 1000,
        timeoutMs: 10_000,
        logger,
        signal: controller.signal,
      }).catch((e: unknown) => e);
      // Abort during the pause between two checks: the first one has been answered and logged.
      await waitFor(() => messages().length >= 1, { timeoutMs: 5000, what: 'the first check' });
      const aborted = Date.now();
      controller.abort(new Error('interrupted'));
      const err = await waiting;
      expect((err as Error).message).to.equal('interrupted');
      expect(Date.now() - aborted, 'ms from abort to the end, with checks 1 s apart').to.be.below(300);
    } finally {
      await close(server);
    }
  });

  describe('target', () => {
    it('defaults to localhost:9901/ready and accepts loopback hosts only', () => {
      expect(waitTarget({})).to.deep.equal({ address: { kind: 'tcp', host: 'localhost', port: 9901 }, path: '/ready' });
      expect(waitTarget({ url: 'http://[::1]:9902/ready' }).address).to.deep.equal({ kind: 'tcp', host: '::1', port: 9902 });
      expect(waitTarget({ url: 'http://127.0.0.1/ready' }).address).to.deep.equal({ kind: 'tcp', host: '127.0.0.1', port: 80 });
      for (const url of ['http://10.0.0.1:9901/ready', 'http://example.com/ready', 'not a url', 'ftp://localhost/ready']) {
        expect(() => waitTarget({ url }), url).to.throw(ConfigError);
      }
    });

    it('rejects a remote URL before any request', async () => {
      const err = await waitForReady({ url: 'http://10.1.2.3:9901/ready', logger }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as ConfigError).line).to.contain('10.1.2.3').and.contain('localhost');
    });
  });
});
