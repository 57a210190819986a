import type http from 'node:http';

/** node:http's or node:https's request function, with an agent of the same module. */
export interface Transport {
  request: typeof http.request;
  agent: http.Agent;
}

/**
 * POSTs a JSON body and resolves with the response once its head has arrived; rejects when no
 * response comes (refused, reset, TLS, `signal` aborted). `onSent` runs once the whole request
 * has been handed to the OS, while the server works on it.
 */
export function sendPost(transport: Transport, url: URL, body: string, signal: AbortSignal, onSent?: () => void): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      {
        method: 'POST',
        agent: transport.agent,
        signal,
        headers: { accept: 'application/json', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      resolve,
    );
    // Also after the response has come: an abort while its body is read must not be uncaught.
    request.on('error', reject);
    if (onSent) request.once('finish', onSent);
    request.end(body);
  });
}

/** The whole response body as UTF-8; rejects when the connection ends or fails before it is complete. */
export function readText(response: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.once('error', reject);
    response.once('close', () => {
      if (!response.complete) reject(new Error('the connection closed before the whole response arrived'));
    });
  });
}
