import { verifyBearerToken, type BearerClaims } from './bearer-tokens.js';

/**
 * Verifies Berth's bearer JWTs, remembering each one that verified until it expires: a client sends the same token
 * with every request of a pull, and checking its HMAC and decoding its JSON again each time cost a third of the
 * manifest GET rate. Only the signature check and the claims' decoding are remembered; what can change while a
 * token is valid (its access token being revoked or expiring) is checked by the gate on every request, so a
 * revocation still bites at once.
 */
export interface BearerVerifier {
  /** The token's claims; throws AuthError (BERTH_JWT_INVALID) like verifyBearerToken. */
  verify(jwt: string): BearerClaims;
}

export interface BearerVerifierOptions {
  key: Buffer;
  service: string;
  /** Tokens remembered at most (the oldest is forgotten first). Default 10,000: a few MiB. */
  maxEntries?: number;
  /** Clock for expiry (ms since the epoch). Default Date.now. */
  now?: () => number;
}

/** verifyJwt accepts a token up to this long past its exp (clock skew): a remembered one is dropped no later. */
const leewayMs = 30_000;

export function createBearerVerifier(options: BearerVerifierOptions): BearerVerifier {
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const verified = new Map<string, { claims: BearerClaims; validUntilMs: number }>();

  return {
    verify(jwt) {
      const known = verified.get(jwt);
      if (known !== undefined) {
        if (now() < known.validUntilMs) return known.claims;
        verified.delete(jwt);
      }
      const claims = Object.freeze(verifyBearerToken(options.key, jwt, { service: options.service, now: new Date(now()) }));
      if (verified.size >= maxEntries) verified.delete(verified.keys().next().value as string);
      verified.set(jwt, { claims, validUntilMs: claims.exp * 1000 + leewayMs });
      return claims;
    },
  };
}
