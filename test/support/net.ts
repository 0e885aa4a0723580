import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';

/**
 * A TCP port that was free a moment ago on `host` (listen on port 0, read it, close). Another process can
 * take it before the caller binds it; callers that spawn servers retry on a bind failure.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read the ephemeral port'))));
    });
  });
}

/** One GET that resolves with the status code (any status), or rejects on a connection error or after timeoutMs. */
export function probe(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve, reject) => {
    const isHttps = url.startsWith('https:');
    // The probe only asks "is something answering?": certificates are checked by the real clients later.
    const req = (isHttps ? httpsRequest : httpRequest)(url, { method: 'GET', timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Polls `url` until it answers with any HTTP status, or throws after timeoutMs. `abort` is checked between
 * attempts so a caller can stop waiting when the server process has already exited.
 */
export async function waitForHttp(url: string, options: { timeoutMs?: number; abort?: () => string | undefined } = {}): Promise<number> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let lastError = 'no attempt';
  for (;;) {
    const aborted = options.abort?.();
    if (aborted !== undefined) throw new Error(aborted);
    try {
      return await probe(url);
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer in time (last error: ${lastError})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
