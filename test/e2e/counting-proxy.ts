import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AfterHook } from '../support/temp-dir.js';

/**
 * A plain HTTP reverse proxy in front of Berth that records every request (method, path, status, request body
 * bytes). Berth has no access log, so this is how a test sees what a real client actually sent, for example
 * that a cross-repository copy mounted blobs instead of uploading them again.
 */
export interface ProxiedRequest {
  readonly method: string;
  /** Path and query as the client sent them. */
  readonly url: string;
  readonly status: number;
  /** Request body bytes forwarded to the server. */
  readonly bodyBytes: number;
}

export interface CountingProxy {
  /** `127.0.0.1:PORT` of the proxy, for image references. */
  readonly host: string;
  readonly requests: ProxiedRequest[];
  close(): Promise<void>;
}

export async function startCountingProxy(t: AfterHook, target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on('end', () => requests.push({ method: req.method ?? '', url: req.url ?? '', status: answer.statusCode ?? 0, bodyBytes }));
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  t.after(close);
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close };
}
