import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BerthMetrics, RouteKind } from './berth-metrics.js';
import { routeKindOf } from './route-kind.js';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

function pathnameOf(url: string | undefined): string {
  if (!url) return '/';
  const queryAt = url.indexOf('?');
  return queryAt === -1 ? url : url.slice(0, queryAt);
}

/**
 * Wraps a request listener so every request is observed once, when its response closes (finished or aborted:
 * a client that hangs up mid-blob still used the bandwidth). Bytes are read from the socket's counters rather
 * than by listening to the body: a 'data' listener would switch the request into flowing mode under the handler.
 * So they are bytes on the connection, request line and headers included. Node has already read the headers and
 * the first body chunk when the handler runs, so a request's share is measured from where the previous request on
 * the same keep-alive connection ended, not from the handler's start.
 */
export function instrumentRequests(
  metrics: BerthMetrics,
  listener: RequestListener,
  routeOf: (req: IncomingMessage) => RouteKind = (req) => routeKindOf(pathnameOf(req.url)),
): RequestListener {
  const accounted = new WeakMap<object, { read: number; written: number }>();
  return (req, res) => {
    const started = process.hrtime.bigint();
    const socket = req.socket;
    res.once('close', () => {
      let mark = accounted.get(socket);
      if (!mark) accounted.set(socket, (mark = { read: 0, written: 0 }));
      // bytesWritten is undefined on some destroyed sockets: fall back to what was already accounted.
      const read = socket.bytesRead ?? mark.read;
      const written = socket.bytesWritten ?? mark.written;
      const bytesIn = read - mark.read;
      const bytesOut = written - mark.written;
      mark.read = read;
      mark.written = written;
      metrics.observeRequest({
        route: routeOf(req),
        method: req.method ?? 'GET',
        status: res.statusCode,
        durationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
        bytesIn,
        bytesOut,
      });
    });
    listener(req, res);
  };
}
