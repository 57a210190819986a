/** The demo's example service: answers every HTTP request with one line, on a loopback port the OS picks. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export const APP_GREETING = 'hello from the kuma-dp demo app';

export interface ExampleApp {
  port: number;
  /** Requests served so far, to show that a request really went through Envoy. */
  requests: number;
  close(): Promise<void>;
}

export function startExampleApp(): Promise<ExampleApp> {
  const app = { port: 0, requests: 0, close: () => Promise.resolve() } as ExampleApp;
  const server = createServer((req, res) => {
    app.requests++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`${APP_GREETING} (${req.method} ${req.url})\n`);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      app.port = (server.address() as AddressInfo).port;
      app.close = () =>
        new Promise((done) => {
          server.closeAllConnections();
          server.close(() => done());
        });
      resolve(app);
    });
  });
}
