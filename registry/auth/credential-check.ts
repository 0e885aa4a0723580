import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../core/errors.js';
import { canonicalAddress, isLoopbackAddress } from '../http/listener-names.js';
import type { StateStore } from '../state/state-store.js';
import type { TokenRecord } from '../state/schema.js';
import { verifyToken } from './access-tokens.js';
import type { AuditLog } from './audit-log.js';
import { clientKey, createRateLimiter, type RateDecision, type RateLimiterOptions } from './rate-limiter.js';

/**
 * Access tokens presented as Basic credentials (on /v2 and to the token service), checked in one place, with a
 * failure limit that lands on whoever keeps failing and on nobody else.
 *
 * Why the limit never refuses a valid token: an access token is `berth_` and 256 random bits. At a billion guesses
 * a second, finding one takes some 10^60 years; no rate limit adds anything to that, so the entropy is what
 * protects tokens, not the limit. What a limit can do is harm. Every local client is 127.0.0.1, and a limit that
 * refused an address before looking at the credential (as Berth's first one did) let ten requests of a stale CI
 * job with a revoked token lock every valid token on the machine out with 429, renewed for as long as the job kept
 * retrying. So the credential is always checked first, and a valid one is always served.
 *
 * What the limit is for, then: telling a client that keeps failing to back off, and bounding what its failures
 * cost (one audit line each, a metric). Failures are counted
 * - per credential: the token's id when the secret is one Berth issued (revoked or expired), otherwise the user
 *   name given with it (any name works with a valid token, so this only groups the failures of one client);
 * - per remote address only where an address is one client: not loopback and not this machine's own address,
 *   since those are every local program at once (another local user's failures must not change what you are told).
 *   IPv6 counts per /64 (rate-limiter.ts).
 * From the 10th failure in a minute on any of its keys, a failing request is answered 429 TOOMANYREQUESTS with
 * Retry-After (30 s, doubling while it goes on, up to 5 min) instead of 401, without an audit line of its own.
 *
 * On a loopback-only Berth, then, a local program guessing tokens is not stopped: stopping it would stop every real
 * client that shares its address, and its guesses cannot succeed. What bounds it is the count per credential: from
 * its 10th failure under one user name it gets a cheap 429 and no audit line. A program that changes the name every
 * time is audited every time, as one that changed its source address within 127/8 was under the per-address limit.
 * The admin GUI's sign-in codes follow the same rule (admin/sign-in-failures.ts).
 */
export interface CredentialCheckOptions {
  store: StateStore;
  audit: AuditLog;
  /** Counts failures for metrics: 'invalid_credentials', or 'rate_limited' past the limit. */
  onFailure?: (reason: string) => void;
  /** The failure limit (see rate-limiter.ts); defaults 10 per minute, blocks of 30 s up to 5 min. */
  limits?: RateLimiterOptions;
}

export interface PresentedCredential {
  /** The user name of the Basic credentials or the OAuth2 form: free text, only a label. */
  username: string;
  /** The access token. */
  password: string;
}

export type CredentialOutcome = { ok: true; record: TokenRecord } | { ok: false; message: string };

export interface CredentialCheck {
  /**
   * Verifies the token. A refusal is counted and audited (with `auditDetail`), and returned for the caller to
   * answer 401 in its protocol's terms; past the limit it throws RegistryError TOOMANYREQUESTS (429) instead.
   */
  verify(req: IncomingMessage, credential: PresentedCredential, auditDetail: Record<string, unknown>): CredentialOutcome;
  close(): void;
}

/** Longer user names are cut for counting: a failure costs an entry of bounded size. */
const usernameKeyLength = 128;

/** The keys a failure is counted under. Each has a prefix, so none is read as an address by clientKey(). */
export function failureKeys(credential: { tokenId?: string; username: string }, socket: { remoteAddress?: string; localAddress?: string }): string[] {
  const keys = [credential.tokenId !== undefined ? `token:${credential.tokenId}` : `user:${credential.username.slice(0, usernameKeyLength)}`];
  const remote = socket.remoteAddress === undefined ? undefined : canonicalAddress(socket.remoteAddress);
  const local = socket.localAddress === undefined ? undefined : canonicalAddress(socket.localAddress);
  if (remote !== undefined && !isLoopbackAddress(remote) && remote !== local) keys.push(`address:${clientKey(remote)}`);
  return keys;
}

export function createCredentialCheck(options: CredentialCheckOptions): CredentialCheck {
  const { store, audit } = options;
  const limiter = createRateLimiter(options.limits);

  /** The longest block among the keys, or allowed when none is blocked. */
  function blockOf(keys: readonly string[]): RateDecision {
    let longest: RateDecision = { allowed: true };
    for (const key of keys) {
      const decision = limiter.check(key);
      if (!decision.allowed && (longest.allowed || decision.retryAfterSeconds > longest.retryAfterSeconds)) longest = decision;
    }
    return longest;
  }

  return {
    verify(req, credential, auditDetail) {
      const result = verifyToken(store, credential.password);
      if (result.ok) return { ok: true, record: result.record };
      const message = `access token ${result.reason === 'unknown' ? 'not recognised' : result.reason}`;
      const keys = failureKeys({ tokenId: result.id, username: credential.username }, req.socket);
      const block = blockOf(keys);
      if (!block.allowed) {
        options.onFailure?.('rate_limited');
        throw new RegistryError('TOOMANYREQUESTS', `${message}, and too many failed attempts with it: try again in ${block.retryAfterSeconds} s`, {
          headers: { 'Retry-After': String(block.retryAfterSeconds) },
        });
      }
      for (const key of keys) limiter.recordFailure(key);
      options.onFailure?.('invalid_credentials');
      const client = req.socket.remoteAddress ?? 'unknown';
      void audit
        .record({ action: 'auth.failed', actor: result.name ?? 'unknown', client, outcome: 'failure', detail: { reason: result.reason, ...auditDetail } })
        .catch(() => undefined);
      return { ok: false, message };
    },
    close() {
      limiter.close();
    },
  };
}
