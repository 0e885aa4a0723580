/**
 * Errors of the upstream client. The pull-through layer must tell "the upstream says this does not exist"
 * (UpstreamNotFoundError: answer MANIFEST_UNKNOWN / BLOB_UNKNOWN, serve nothing) from "the upstream could not
 * answer" (UpstreamUnavailableError: serve the cache if it can, else answer 503 and say why) — never mask one
 * as the other. Each carries a stable `code` and the upstream's name.
 */
export const upstreamErrorCodes = {
  BERTH_UPSTREAM_NOT_FOUND: 'not found on the upstream',
  BERTH_UPSTREAM_UNAVAILABLE: 'the upstream is unavailable',
  BERTH_UPSTREAM_CONFIG_INVALID: 'invalid upstream configuration',
} as const;

export type UpstreamErrorCode = keyof typeof upstreamErrorCodes;

/**
 * Why an upstream could not answer. `offline`: refused locally without touching the network because the
 * upstream's health says it is down.
 */
export type UnavailableReason =
  | 'offline'
  | 'network'
  | 'timeout'
  | 'tls'
  | 'server-error'
  | 'rate-limited'
  | 'unauthorized'
  | 'denied'
  | 'rejected'
  | 'protocol'
  | 'digest-mismatch';

/**
 * Reasons that say the upstream itself is unreachable or broken, so they count towards marking it offline.
 * 'unauthorized', 'denied' and 'rejected' do not: the upstream answered, and (Docker Hub answers 401 for a
 * repository that does not exist) a few mistyped names must not take a healthy upstream offline for everybody.
 */
const healthReasons: ReadonlySet<UnavailableReason> = new Set<UnavailableReason>([
  'network', 'timeout', 'tls', 'server-error', 'rate-limited', 'protocol', 'digest-mismatch',
]);

export class UpstreamNotFoundError extends Error {
  readonly code = 'BERTH_UPSTREAM_NOT_FOUND' as const;
  readonly upstream: string;
  /** The OCI code in the upstream's answer (MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN), when it sent one. */
  readonly ociCode: string | undefined;

  constructor(upstream: string, message: string, ociCode?: string) {
    super(message);
    this.name = 'UpstreamNotFoundError';
    this.upstream = upstream;
    this.ociCode = ociCode;
  }
}

export interface UpstreamUnavailableOptions {
  readonly status?: number;
  /** From a 429's (or 503's) Retry-After header. */
  readonly retryAfterMs?: number;
  readonly cause?: unknown;
}

export class UpstreamUnavailableError extends Error {
  readonly code = 'BERTH_UPSTREAM_UNAVAILABLE' as const;
  readonly upstream: string;
  readonly reason: UnavailableReason;
  /** The upstream's HTTP status, when it answered at all. */
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(upstream: string, reason: UnavailableReason, message: string, options: UpstreamUnavailableOptions = {}) {
    super(`upstream ${upstream}: ${message}`, { cause: options.cause });
    this.name = 'UpstreamUnavailableError';
    this.upstream = upstream;
    this.reason = reason;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** Whether this failure counts towards marking the upstream offline (see healthReasons). */
  get countsAgainstHealth(): boolean {
    return healthReasons.has(this.reason);
  }
}

export class UpstreamConfigError extends Error {
  readonly code = 'BERTH_UPSTREAM_CONFIG_INVALID' as const;
  readonly upstream: string;

  constructor(upstream: string, message: string) {
    super(`upstream ${upstream}: ${message}`);
    this.name = 'UpstreamConfigError';
    this.upstream = upstream;
  }
}

export function isUpstreamNotFoundError(error: unknown): error is UpstreamNotFoundError {
  return error instanceof UpstreamNotFoundError;
}

export function isUpstreamUnavailableError(error: unknown): error is UpstreamUnavailableError {
  return error instanceof UpstreamUnavailableError;
}
