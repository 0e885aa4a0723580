import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { isAuthError } from '../auth/errors.js';
import { DurationError } from '../core/duration.js';
import { isRegistryError } from '../core/errors.js';
import { isTrashError } from '../lifecycle/trash-errors.js';
import type { Refusal } from '../http/request-guard.js';
import type { Logger } from '../log.js';
import { isTlsError } from '../tls/errors.js';
import type { AdminErrorCode, ErrorBody } from './contract.js';

/** An admin API failure with its stable code, HTTP status and, where there is one, what to do about it. */
export class AdminError extends Error {
  constructor(
    readonly code: AdminErrorCode,
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

export const badRequest = (message: string, hint?: string) => new AdminError('BERTH_VALIDATION', 400, message, hint);

interface Mapped {
  status: number;
  body: ErrorBody;
}

/**
 * Errors raised by express itself and body-parser (http-errors: `status` plus `expose` for client errors, e.g. a
 * malformed body or a path parameter that is not valid percent-encoding). Only 4xx ones are the client's fault.
 */
function isHttpClientError(error: unknown): error is { type?: string; status: number; message: string } {
  const candidate = error as { status?: unknown; expose?: unknown } | null;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.status !== 'number') return false;
  return candidate.status >= 400 && candidate.status < 500;
}

/** Codes of Berth's other modules (mirror, state) that carry a code and a message but no status. */
const codedStatus: Record<string, number> = {
  BERTH_UPSTREAM_CONFIG_INVALID: 400,
  BERTH_TLS_NAME_INVALID: 400,
  BERTH_TLS_CA_MISSING: 404,
  BERTH_TLS_FILE_INVALID: 500,
  BERTH_STATE_INVALID: 500,
  BERTH_STATE_CLOSED: 503,
  BERTH_AUDIT_CLOSED: 503,
  BERTH_LISTENER_APPLY_FAILED: 409,
  BERTH_RETENTION_INVALID: 400,
  BERTH_PIN_INVALID: 400,
  // registry/transfer/archive-error.ts
  BERTH_ARCHIVE_INVALID: 400,
  BERTH_ARCHIVE_REFUSED: 400,
  BERTH_IMAGE_UNKNOWN: 404,
  // A garbage collection (or another job under a cluster lock) runs on another node right now.
  BERTH_CLUSTER_LOCK_BUSY: 409,
};

/** The one place that turns anything thrown in the admin API into the contract's error body. */
export function mapAdminError(error: unknown): Mapped {
  const body = (code: string, message: string, hint?: string): ErrorBody => ({ error: hint ? { code, message, hint } : { code, message } });
  if (error instanceof AdminError) return { status: error.status, body: body(error.code, error.message, error.hint) };
  if (isAuthError(error)) return { status: error.status, body: body(error.code, error.message) };
  if (isTrashError(error)) return { status: error.status, body: body(error.code, error.message, error.hint) };
  if (error instanceof DurationError) return { status: 400, body: body('BERTH_VALIDATION', error.message) };
  if (isRegistryError(error)) return { status: error.status, body: body(`BERTH_REGISTRY_${error.code}`, error.message) };
  if (isTlsError(error)) {
    if (error.code === 'BERTH_TLS_CA_MISSING') {
      return { status: 404, body: body('BERTH_CA_NOT_FOUND', error.message, 'the CA is created when the HTTPS listener first starts') };
    }
    return { status: codedStatus[error.code] ?? 500, body: body(error.code, error.message) };
  }
  if (isHttpClientError(error)) {
    if (error.type === 'entity.parse.failed') return { status: 400, body: body('BERTH_BAD_REQUEST', 'the request body is not valid JSON') };
    if (error.type === 'entity.too.large') return { status: 413, body: body('BERTH_BAD_REQUEST', 'the request body is too large (1 MiB at most)') };
    return { status: error.status, body: body('BERTH_BAD_REQUEST', error.message.slice(0, 200)) };
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code in codedStatus) {
    return { status: codedStatus[code] ?? 500, body: body(code, (error as Error).message) };
  }
  return { status: 500, body: body('BERTH_INTERNAL', 'internal error: see the server log') };
}

/** Express error handler (four arguments). Logs server faults with their stack; clients never see one. */
export function adminErrorHandler(log: Logger) {
  // Express recognises an error handler by its four parameters, so `_next` stays although it is not called.
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const { status, body } = mapAdminError(error);
    if (status >= 500) log.error({ err: error, method: req.method, path: req.path }, 'admin API request failed');
    if (res.headersSent) {
      // A stream (export, events) broke after its headers went out: all that is left is to end it.
      res.destroy();
      return;
    }
    res.status(status).set('Cache-Control', 'no-store').json(body);
  };
}

/**
 * The admin API's answer to a request the request guard refused (a foreign Host or Origin), in the contract's error
 * shape. Written before express sees the request, so it sets the headers the app would have set.
 */
export function sendAdminRefusal(_req: IncomingMessage, res: ServerResponse, refusal: Refusal): void {
  const code: AdminErrorCode = refusal.reason === 'host' ? 'BERTH_MISDIRECTED' : 'BERTH_ORIGIN_REFUSED';
  const body = JSON.stringify({ error: { code, message: refusal.message } } satisfies ErrorBody);
  res.writeHead(refusal.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    // The refused request's body is not read.
    Connection: 'close',
  });
  res.end(body);
}
