import type { IncomingHttpHeaders } from 'node:http';
import { UpstreamNotFoundError, UpstreamUnavailableError } from './errors.js';
import { AddressRefusedError } from './address-policy.js';
import { TransportTimeoutError } from './http-transport.js';

/**
 * Turns what went wrong on the wire into the two errors the pull-through layer understands. One place, so
 * that every request (manifests, blobs, tags, ping, token fetches) classifies failures the same way.
 */

const tlsErrorCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'EPROTO',
]);

const notFoundCodes = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN']);

/** Longest Retry-After honoured: a buggy or hostile header must not take an upstream away for a day. */
const maxRetryAfterMs = 10 * 60 * 1000;

/** A connection-level failure (no HTTP answer). */
export function networkFailure(upstream: string, error: unknown, what: string): UpstreamUnavailableError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const detail = error instanceof Error ? error.message : String(error);
  if (error instanceof AddressRefusedError) {
    return new UpstreamUnavailableError(upstream, 'protocol', `${what}: ${detail}`, { cause: error });
  }
  if (error instanceof TransportTimeoutError) {
    return new UpstreamUnavailableError(upstream, 'timeout', `${what}: ${detail}`, { cause: error });
  }
  if (tlsErrorCodes.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
    return new UpstreamUnavailableError(upstream, 'tls', `${what}: TLS failure (${code}): ${detail}`, { cause: error });
  }
  return new UpstreamUnavailableError(upstream, 'network', `${what}: ${code ? `${code} ` : ''}${detail}`, { cause: error });
}

/** Retry-After as seconds or an HTTP date, in ms from now (undefined when absent or unreadable). */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value.trim());
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, Math.round(ms)), maxRetryAfterMs);
}

/** The first OCI error code in a `{"errors":[{"code":...}]}` body, if the body is one. */
export function ociErrorCode(body: Buffer | undefined): string | undefined {
  if (body === undefined || body.length === 0) return undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown }> };
    const code = parsed.errors?.[0]?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An HTTP answer that is not a success. 404 (whatever the body) and the *_UNKNOWN codes are "not found";
 * the rest says the upstream could not serve the request.
 */
export function statusFailure(
  upstream: string,
  status: number,
  headers: IncomingHttpHeaders,
  body: Buffer | undefined,
  what: string,
): UpstreamNotFoundError | UpstreamUnavailableError {
  const code = ociErrorCode(body);
  if (status === 404 || (code !== undefined && notFoundCodes.has(code) && status < 500)) {
    return new UpstreamNotFoundError(upstream, `${what}: not found on upstream ${upstream}${code ? ` (${code})` : ''}`, code);
  }
  const suffix = code ? ` (${code})` : '';
  const retryAfter = headers['retry-after'];
  const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  if (status === 429) {
    const wait = retryAfterMs !== undefined ? `, retry after ${Math.ceil(retryAfterMs / 1000)} s` : '';
    return new UpstreamUnavailableError(upstream, 'rate-limited', `${what}: rate limited (429)${wait}`, { status, retryAfterMs });
  }
  if (status === 401) {
    return new UpstreamUnavailableError(upstream, 'unauthorized', `${what}: authentication failed (401)${suffix}`, { status });
  }
  if (status === 403) return new UpstreamUnavailableError(upstream, 'denied', `${what}: access denied (403)${suffix}`, { status });
  if (status >= 500) {
    const message = `${what}: upstream error ${status}${suffix}`;
    return new UpstreamUnavailableError(upstream, 'server-error', message, { status, retryAfterMs });
  }
  return new UpstreamUnavailableError(upstream, 'rejected', `${what}: unexpected answer ${status}${suffix}`, { status });
}
