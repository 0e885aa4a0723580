import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { sendError } from './error-response.js';
import type { Refusal, RequestGuard } from './request-guard.js';

/** Handles one request whose path starts with the mount's prefix. */
export type MountHandler = (req: IncomingMessage, res: ServerResponse, pathname: string, search: string) => Promise<void> | void;

/** Answers a request the guard refused, in the mount's own protocol. */
export type RefusalWriter = (req: IncomingMessage, res: ServerResponse, refusal: Refusal) => void;

export interface Mount {
  /** `/v2` matches `/v2` and `/v2/...`; `/` matches every path (the catch-all, mounted last). */
  prefix: string;
  handle: MountHandler;
  /** How the mount says that the guard refused a request (request-guard.ts); default the registry's OCI error body. */
  refuse?: RefusalWriter;
}

/** What `OPTIONS *` (a ping of the server itself, RFC 9110 §9.3.7) is told the server can do. */
const serverMethods = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/**
 * The top of every listener: splits the URL once, lets the guard refuse a request addressed to a host that is not
 * Berth's or sent by another site's page (request-guard.ts), and hands the rest to the first mount whose prefix
 * matches (the registry protocol, the token service, metrics, the admin API, the UI).
 *
 * It is also the one error boundary of every mount: whatever a handler throws, synchronously or by
 * rejecting, is answered by the registry's error writer (or cuts the connection once headers went
 * out). A request can fail; it never takes the process down.
 */
export function createRequestRouter(mounts: readonly Mount[], guard: RequestGuard, log: Logger) {
  // Decided once: an access log costs a listener per request, so it exists only at debug level.
  const accessLog = log.isLevelEnabled('debug');
  const fail = (res: ServerResponse, error: unknown): void => {
    try {
      sendError(res, error, log);
    } catch (writeError) {
      // The writer itself failed (a socket torn down under it): nothing can be said to this client any more.
      log.warn({ err: writeError, cause: error }, 'could not answer a failed request');
      res.destroy();
    }
  };
  // A refused request's body is not read: the connection closes after the answer rather than drain it.
  const refuseAsRegistry: RefusalWriter = (_req, res, refusal) =>
    fail(res, new RegistryError('DENIED', refusal.message, { status: refusal.status, detail: { reason: refusal.reason }, headers: { Connection: 'close' } }));
  // One listener for every response, not a closure per request. A response emits 'error' for a write after
  // end; unheard, that event would be an uncaught exception.
  const onResponseError = function (this: ServerResponse, error: Error): void {
    log.warn({ err: error }, 'response stream failed');
    this.destroy();
  };

  return (req: IncomingMessage, res: ServerResponse): void => {
    res.on('error', onResponseError);
    if (accessLog) {
      const started = process.hrtime.bigint();
      res.once('close', () =>
        log.debug({ method: req.method, url: req.url, status: res.statusCode, client: req.socket.remoteAddress, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request'),
      );
    }
    // First the target, whose authority (absolute form) becomes the Host the guard then checks.
    const url = originForm(req);
    const queryAt = url === undefined ? -1 : url.indexOf('?');
    const pathname = url === undefined ? undefined : queryAt === -1 ? url : url.slice(0, queryAt);
    const mount = pathname === undefined ? undefined : mounts.find((m) => pathname === m.prefix || pathname.startsWith(`${m.prefix}/`) || m.prefix === '/');
    const refusal = guard(req);
    if (refusal) {
      try {
        (mount?.refuse ?? refuseAsRegistry)(req, res, refusal);
      } catch (error) {
        fail(res, error);
      }
      return;
    }
    if (url === undefined || pathname === undefined) {
      answerWithoutPath(req, res);
      return;
    }
    if (!mount) {
      fail(res, new RegistryError('NAME_UNKNOWN', `not found: ${pathname.slice(0, 200)}`, { status: 404 }));
      return;
    }
    const search = queryAt === -1 ? '' : url.slice(queryAt + 1);
    // An async wrapper turns a synchronous throw into a rejection, so both reach `fail`.
    (async () => mount.handle(req, res, pathname, search))().catch((error: unknown) => fail(res, error));
  };
}

/**
 * The request target as a path (`/v2/...?query`), or undefined when it is not one (`*`, garbage).
 * An absolute-form target (`GET http://host/v2/ HTTP/1.1`), which a server must accept (RFC 9112 §3.2.2), is
 * rewritten in place to its origin form, and its authority replaces the Host header as that section says, so
 * every mount (express included) sees the same path a browser would have sent.
 */
function originForm(req: IncomingMessage): string | undefined {
  const target = req.url ?? '/';
  if (target.startsWith('/')) return target;
  const absolute = /^https?:\/\/([^/?#]*)(.*)$/i.exec(target);
  if (!absolute) return undefined;
  const [, authority = '', rest = ''] = absolute;
  const path = rest.startsWith('/') ? rest : `/${rest}`;
  req.url = path;
  if (authority) req.headers.host = authority;
  return path;
}

/** `OPTIONS *` answers what the server supports; any other target that is not a path is a bad request. */
function answerWithoutPath(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'OPTIONS' && req.url === '*') {
    res.writeHead(204, { Allow: serverMethods, 'Content-Length': 0 });
    res.end();
    return;
  }
  const text = 'bad request target: expected a path such as /v2/\n';
  res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), Connection: 'close' });
  res.end(text);
}
