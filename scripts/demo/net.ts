/** Small loopback HTTP helpers for the demo. */
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';

/**
 * A port that was free a moment ago, for processes that need a fixed number up front (Envoy's
 * listener, kuma-dp's readiness port). Someone else may grab it in between; the demo then fails
 * its step with a clear message rather than hanging.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface HttpReply {
  status: number;
  body: string;
}

/** GET over TCP (`url`) or a unix socket (`socketPath` plus the path in `url`). */
export function httpGet(url: string, { socketPath, timeoutMs = 1000 }: { socketPath?: string; timeoutMs?: number } = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { socketPath, timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').trim() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end();
  });
}
