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
  const req = res.req as IncomingMessage | undefined;
  // An error that closes the connection on purpose (a guard's refusal, an oversized manifest) does not linger.
  const unread = registryError.headers.Connection === undefined && req !== undefined && !req.complete && !req.destroyed ? req : undefined;
  const closeAfterBody = unread !== undefined && clientAskedToClose(unread);
  res.writeHead(registryError.status, {
    // Docker recognises a v2 registry by this header, on its 401 ping answer too.
    'Docker-Distribution-API-Version': 'registry/2.0',
    ...registryError.headers,
    // Node would close a `Connection: close` request's connection right after the answer, while the client is still
    // sending the body: its next write meets a reset. Said keep-alive, Node keeps reading; lingerOverUnreadBody closes.
    ...(closeAfterBody ? { Connection: 'keep-alive' } : {}),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
  if (unread) lingerOverUnreadBody(unread, closeAfterBody);
}

/**
 * nginx's lingering_time: how long the rest of a refused request's body is read and dropped before the connection is
 * cut. Node drains an unread body once the answer is sent, which lets a client still writing it finish and read the
 * answer (cutting the connection at once resets it mid-write: "broken pipe" instead of the error); the bound keeps a
 * client that never stops from holding the connection.
 */
const lingerMs = 30_000;

/**
 * Reads and drops the rest of a refused request's body, then (`closeAfterBody`: the client asked for it) closes the
 * connection in stages as RFC 9112 §9.6 describes: the write side first, so the answer is not lost to a reset.
 */
function lingerOverUnreadBody(req: IncomingMessage, closeAfterBody: boolean): void {
  const timer = setTimeout(() => req.socket.destroy(), lingerMs);
  timer.unref();
  const done = (): void => clearTimeout(timer);
  req.once('end', () => {
    done();
    if (closeAfterBody) req.socket.end();
  });
  req.once('close', done);
}

/** `Connection: close`, or HTTP/1.0 without keep-alive: Node would close the connection after the answer. */
function clientAskedToClose(req: IncomingMessage): boolean {
  const tokens = (req.headers.connection ?? '').toLowerCase().split(',').map((token) => token.trim());
  if (tokens.includes('close')) return true;
  return req.httpVersion === '1.0' && !tokens.includes('keep-alive');
}

/** Error codes of a connection the client closed or reset: the stream ends early, and nobody is at fault. */
const clientGoneCodes = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function clientWentAway(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && clientGoneCodes.has(code);
}
