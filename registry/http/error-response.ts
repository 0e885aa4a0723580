import type { IncomingMessage, ServerResponse } from 'node:http';
import { isRegistryError, RegistryError } from '../core/errors.js';
import type { Logger } from '../log.js';

/**
 * The one writer of registry protocol errors: `{"errors":[{code,message,detail}]}` with the code's
 * status. A RegistryError is an answer (mostly the client's fault, 4xx) and is not logged here; anything
 * else is an internal fault: logged at error level with its stack, answered as 500 UNKNOWN without internals.
 */
export function sendError(res: ServerResponse, error: unknown, log: Logger): void {
  if (res.headersSent || res.destroyed) {
    // Too late for a status line: cut the connection so the client sees a broken transfer, not a short file.
    if (clientWentAway(error)) {
      // Mostly the client went away itself (it found the blob elsewhere, or was stopped): not a fault.
      log.debug({ err: error }, 'response cut short');
    } else if (isRegistryError(error)) {
      log.warn({ code: error.code, status: error.status, reason: error.message }, 'response cut short: %s', error.message);
    } else {
      log.error({ err: error }, 'response failed after its headers were sent');
    }
    res.destroy();
    return;
  }
  const registryError = isRegistryError(error) ? error : new RegistryError('UNKNOWN', 'internal server error');
  if (!isRegistryError(error)) log.error({ err: error }, 'request failed');
  const body = JSON.stringify({
    errors: [{ code: registryError.code, message: registryError.message, detail: registryError.detail }],
  });
  res.writeHead(registryError.status, {
    // Docker recognises a v2 registry by this header, on its 401 ping answer too.
    'Docker-Distribution-API-Version': 'registry/2.0',
    ...registryError.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
  if (!res.hasHeader('connection') && res.req && !res.req.complete && !res.req.destroyed) lingerOverUnreadBody(res.req);
}

/**
 * nginx's lingering_time: how long the rest of a refused request's body is read and dropped before the connection is
 * cut. Node drains an unread body once the answer is sent, which lets a client still writing it finish and read the
 * answer (cutting the connection at once resets it mid-write: "broken pipe" instead of the error); the bound keeps a
 * client that never stops from holding the connection.
 */
const lingerMs = 30_000;

function lingerOverUnreadBody(req: IncomingMessage): void {
  const timer = setTimeout(() => req.socket.destroy(), lingerMs);
  timer.unref();
  const done = (): void => clearTimeout(timer);
  req.once('end', done);
  req.once('close', done);
}

/** Error codes of a connection the client closed or reset: the stream ends early, and nobody is at fault. */
const clientGoneCodes = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function clientWentAway(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && clientGoneCodes.has(code);
}
