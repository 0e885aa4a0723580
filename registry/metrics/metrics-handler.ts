import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BerthMetrics } from './berth-metrics.js';

export const metricsContentType = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * `GET /metrics` (and HEAD): refreshes the slow collectors (storage usage, cached 30 s), then renders.
 * Whether the endpoint needs credentials is the caller's decision (mount it behind the auth gate or not).
 */
export function metricsHandler(metrics: BerthMetrics): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed: use GET /metrics\n');
      return;
    }
    metrics.refresh().then(
      () => {
        const body = metrics.render();
        res.writeHead(200, {
          'Content-Type': metricsContentType,
          'Content-Length': Buffer.byteLength(body),
          // Every scrape must reach Berth: a cached copy would flatten rates to zero.
          'Cache-Control': 'no-store',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        // refresh() never rejects; this guards render() bugs so a scrape gets a 500, not a hung socket.
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`metrics unavailable: ${(error as Error).message}\n`);
      },
    );
  };
}
