import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { sendError } from './error-response.js';

/** Handles one request whose path starts with the mount's prefix. */
export type MountHandler = (req: IncomingMessage, res: ServerResponse, pathname: string, search: string) => Promise<void> | void;

export interface Mount {
  /** `/v2` matches `/v2` and `/v2/...`. */
  prefix: string;
  handle: MountHandler;
}

/**
 * The top of every listener: splits the URL once and hands the request to the first mount whose
 * prefix matches (the registry protocol, the token service, metrics, the admin API, the UI).
 */
export function createRequestRouter(mounts: readonly Mount[], log: Logger) {
  // Decided once: an access log costs a listener per request, so it exists only at debug level.
  const accessLog = log.isLevelEnabled('debug');
  return (req: IncomingMessage, res: ServerResponse): void => {
    if (accessLog) {
      const started = process.hrtime.bigint();
      res.once('close', () =>
        log.debug({ method: req.method, url: req.url, status: res.statusCode, client: req.socket.remoteAddress, ms: Number(process.hrtime.bigint() - started) / 1e6 }, 'request'),
      );
    }
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const pathname = queryAt === -1 ? url : url.slice(0, queryAt);
    const search = queryAt === -1 ? '' : url.slice(queryAt + 1);
    for (const mount of mounts) {
      if (pathname === mount.prefix || pathname.startsWith(`${mount.prefix}/`) || mount.prefix === '/') {
        Promise.resolve(mount.handle(req, res, pathname, search)).catch((error: unknown) => sendError(res, error, log));
        return;
      }
    }
    sendError(res, new RegistryError('NAME_UNKNOWN', `not found: ${pathname.slice(0, 200)}`, { status: 404 }), log);
  };
}
