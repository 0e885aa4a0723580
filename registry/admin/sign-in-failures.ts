import type { AuditLog } from '../auth/audit-log.js';
import { clientKey, createRateLimiter, type RateDecision, type RateLimiterOptions } from '../auth/rate-limiter.js';
import { createEventSummarizer, type EventSummary } from '../event-summary.js';
import type { Logger } from '../log.js';

/**
 * What a sign-in link that does not work costs and says: `/ui/signin` is open to anyone who reaches Berth, and a
 * flood of made-up codes once wrote one audit line each (600/s) and took the state file's lock each time.
 *
 * - Audit: failed attempts are recorded in aggregate, one `admin.signin` denied event per minute with the number of
 *   attempts and the client addresses (the first of a quiet spell at once, on its own).
 * - Limit: from the 10th failure in a minute from one address, that address's failures are answered 429 with
 *   Retry-After (30 s, doubling while it goes on, up to 5 min), so scripts back off.
 * - What the limit never does is refuse a valid code. Every local user is 127.0.0.1, so refusing the address would
 *   let any local process lock the admin out of `berth ui-url` links for as long as it keeps failing. A code is 128
 *   random bits that lives 10 minutes and works once: no rate of guessing finds one, so nothing is gained by making
 *   the real admin wait.
 */
export interface SignInFailuresOptions {
  audit: AuditLog;
  log: Logger;
  /** The audit summary's window. Default one minute. */
  windowMs?: number;
  /** The per-address failure limit (see auth/rate-limiter.ts); defaults 10 per minute, blocks of 30 s up to 5 min. */
  limits?: RateLimiterOptions;
}

export interface SignInFailures {
  /** A code that did not redeem, from `address`: counted, audited in aggregate; blocked once there are too many. */
  failed(address: string): RateDecision;
  /** A code that redeemed: that address's failure count starts over. */
  succeeded(address: string): void;
  /** Writes the pending audit summary. */
  close(): void;
}

/** Addresses named in one audit event's `client` field; the full list (up to 100) is in its detail. */
const namedClients = 5;

export function createSignInFailures(options: SignInFailuresOptions): SignInFailures {
  const limiter = createRateLimiter(options.limits);

  function record(summary: EventSummary): void {
    const shown = summary.byKey.slice(0, namedClients).map(({ key }) => key);
    const more = summary.byKey.length - shown.length + (summary.otherKeys > 0 ? 1 : 0);
    const client = more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
    const detail = {
      attempts: summary.count,
      clients: summary.byKey.map(({ key, count }) => ({ address: key, attempts: count })),
      ...(summary.otherKeys > 0 ? { otherClientAttempts: summary.otherKeys } : {}),
      since: summary.since.toISOString(),
      until: summary.until.toISOString(),
    };
    void options.audit
      .record({ action: 'admin.signin', actor: 'anonymous', client, outcome: 'denied', detail })
      .catch((error: unknown) => options.log.error({ err: error }, 'audit write failed'));
  }

  const summary = createEventSummarizer({ windowMs: options.windowMs ?? 60_000, report: record });

  return {
    failed(address) {
      summary.add(clientKey(address));
      return limiter.recordFailure(address);
    },
    succeeded(address) {
      limiter.recordSuccess(address);
    },
    close() {
      summary.close();
      limiter.close();
    },
  };
}
