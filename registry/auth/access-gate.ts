import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../core/errors.js';
import { namespaceOf } from '../core/names.js';
import type { AccessGate, AccessNeed, Action, Caller } from '../http/access.js';
import type { StateStore } from '../state/index.js';
import { allowedActions, tokenPrefix, tokenStatus } from './access-tokens.js';
import type { AuditLog } from './audit-log.js';
import {
  parseBasicAuthorization,
  parseBearerAuthorization,
  wwwAuthenticateBearer,
  type BearerClaims,
  type GrantPolicy,
  type ResourceAccess,
} from './bearer-tokens.js';
import { createBearerDecisions } from './bearer-decisions.js';
import { createBearerVerifier } from './bearer-verifier.js';
import type { CredentialCheck } from './credential-check.js';
import type { TokenRealm } from './token-realm.js';

export interface TokenGateOptions {
  store: StateStore;
  jwtKey: Buffer;
  /** The `service` of challenges and the audience of bearer tokens. */
  service: string;
  /** The `realm` of challenges: the token service's URL for the listener a request came in on (see token-realm.ts). */
  realm: TokenRealm;
  /** Checks access tokens given as Basic credentials, with the failure limit (shared with the token service). */
  credentials: CredentialCheck;
  audit: AuditLog;
  /** Counts failures for metrics (reason: 'invalid_token', 'denied'; the credential check counts its own). */
  onFailure?: (reason: string) => void;
}

/** Who may pull anonymously: namespaces marked so in the state file. */
export function namespacePolicy(store: StateStore): GrantPolicy {
  return { anonymousPullAllowed: (namespace) => store.read().namespaces.some((ns) => ns.name === namespace && ns.anonymousPull) };
}

/**
 * The access gate of an authenticated Berth. Accepts Bearer JWTs from `/token` (Docker token auth)
 * and, for clients that skip the token dance, Basic credentials carrying an access token. Every need
 * is checked against the caller's scopes for its repository; anonymous callers get pull on
 * namespaces that allow it. A missing or insufficient credential answers 401 with a challenge that
 * names the scope to ask for; an identity that can never get the access answers 403 DENIED.
 */
export function createTokenGate(options: TokenGateOptions): AccessGate {
  const { store, jwtKey, service, credentials, audit, realm } = options;
  const policy = namespacePolicy(store);
  const bearerVerifier = createBearerVerifier({ key: jwtKey, service });
  const bearerDecisions = createBearerDecisions();
  const fail = (reason: string) => options.onFailure?.(reason);

  function challenge(req: IncomingMessage, needs: readonly AccessNeed[], message: string, error?: 'invalid_token' | 'insufficient_scope') {
    const scope: ResourceAccess[] = needs.map((need) => ({ type: 'repository', name: need.repository, actions: need.actions }));
    return new RegistryError('UNAUTHORIZED', message, {
      headers: { 'WWW-Authenticate': wwwAuthenticateBearer({ realm: realm(req), service, scope, error }) },
      detail: needs.length ? scope.map((s) => ({ Type: s.type, Name: s.name, Action: s.actions.join(',') })) : null,
    });
  }

  function deny(req: IncomingMessage, caller: Caller, needs: readonly AccessNeed[], missing: AccessNeed): RegistryError {
    fail('denied');
    void audit
      .record({
        action: 'auth.denied',
        actor: caller.name,
        namespace: namespaceOf(missing.repository),
        repository: missing.repository,
        client: req.socket.remoteAddress ?? 'unknown',
        outcome: 'denied',
        detail: { method: req.method, actions: missing.actions, needs: needs.map((n) => `${n.repository}:${n.actions.join(',')}`) },
      })
      .catch(() => undefined);
    return new RegistryError('DENIED', `${caller.name} may not ${missing.actions.join('/')} ${missing.repository}`, {
      detail: { repository: missing.repository, actions: missing.actions },
    });
  }

  function anonymousCaller(): Caller {
    return { name: 'anonymous', can: (repository, action) => action === 'pull' && policy.anonymousPullAllowed(namespaceOf(repository)) };
  }

  /** Whether a request without any credentials would be let through: no token Berth issued may do worse. */
  function anonymousSuffices(needs: readonly AccessNeed[]): boolean {
    const anonymous = anonymousCaller();
    return needs.length > 0 && needs.every((need) => need.actions.every((action) => anonymous.can(need.repository, action)));
  }

  function tokenCaller(name: string, id: string): Caller {
    return {
      name,
      can: (repository, action) => {
        // Re-read on every check: a revocation must bite within a second, mid-session too.
        const record = store.read().tokens.find((token) => token.id === id);
        if (record === undefined || tokenStatus(record) !== 'active') return false;
        // A live token never has less than anonymous: logged-in clients send it for public namespaces too.
        if (allowedActions(record, repository).has(action)) return true;
        return action === 'pull' && policy.anonymousPullAllowed(namespaceOf(repository));
      },
    };
  }

  function authenticateBasic(req: IncomingMessage, basic: { username: string; password: string }, needs: readonly AccessNeed[]): Caller {
    // dockerd sends its Docker Hub credentials to registry mirrors: not Berth's to judge, so a pull
    // that anonymous callers may make goes through as anonymous.
    // Only for a request that needs something: `GET /v2/` (docker login) with a wrong password must not succeed.
    if (!basic.password.startsWith(tokenPrefix) && anonymousSuffices(needs)) return anonymousCaller();
    const result = credentials.verify(req, basic, { method: req.method });
    if (!result.ok) throw challenge(req, needs, result.message, 'invalid_token');
    return tokenCaller(result.record.name, result.record.id);
  }

  /** The caller of a verified JWT, and until when its access token is live (its expiry; Infinity without one). */
  function authenticateBearer(req: IncomingMessage, jwt: string, needs: readonly AccessNeed[]): { caller: Caller; claims: BearerClaims; liveUntilMs: number } {
    let claims: BearerClaims;
    try {
      claims = bearerVerifier.verify(jwt);
    } catch {
      fail('invalid_token');
      throw challenge(req, needs, 'bearer token invalid or expired', 'invalid_token');
    }
    let liveUntilMs = Number.POSITIVE_INFINITY;
    if (claims.tid !== undefined) {
      // The JWT outlives neither a revocation nor an expiry: its client must log in again, so say so (401, not DENIED).
      const record = store.read().tokens.find((token) => token.id === claims.tid);
      if (!record || tokenStatus(record) !== 'active') {
        fail('invalid_token');
        throw challenge(req, needs, `access token ${record ? tokenStatus(record) : 'unknown'}`, 'invalid_token');
      }
      if (record.expiresAt) liveUntilMs = Date.parse(record.expiresAt);
    }
    const caller = claims.tid === undefined ? anonymousCaller() : tokenCaller(claims.sub, claims.tid);
    return { caller, claims, liveUntilMs };
  }

  /** A bearer JWT's decision, remembered for `snapshot` (the state it was taken on; see bearer-decisions.ts). */
  function authorizeBearer(req: IncomingMessage, header: string, jwt: string, needs: readonly AccessNeed[], snapshot: object): Caller {
    const { caller, claims, liveUntilMs } = authenticateBearer(req, jwt, needs);
    checkNeeds(req, needs, caller, true);
    // A bearer token carries only what /token granted for it: ask the client to fetch a wider one. Unless the
    // request needs no credentials at all: a JWT granted before a namespace was opened (or for another spelling
    // of the name) must never make a request fail that would succeed without it.
    if (!anonymousSuffices(needs)) {
      for (const need of needs) {
        for (const action of need.actions) {
          if (!claims.access.some((entry) => entry.type === 'repository' && entry.name === need.repository && (entry.actions.includes(action) || entry.actions.includes('*')))) {
            throw challenge(req, needs, `token does not cover ${action} on ${need.repository}`, 'insufficient_scope');
          }
        }
      }
    }
    bearerDecisions.remember(header, needs, snapshot, Math.min(claims.exp * 1000, liveUntilMs), caller);
    return caller;
  }

  /** What the identity can never do is settled first (DENIED): asking for a wider JWT would not help. */
  function checkNeeds(req: IncomingMessage, needs: readonly AccessNeed[], caller: Caller, withBearer: boolean): void {
    for (const need of needs) {
      for (const action of need.actions) {
        if (!caller.can(need.repository, action as Action)) {
          if (caller.name === 'anonymous' && !withBearer) throw challenge(req, needs, 'authentication required');
          throw deny(req, caller, needs, need);
        }
      }
    }
  }

  return {
    authorize(req, needs) {
      const header = req.headers.authorization;
      if (header !== undefined) {
        // Asked before the header is parsed: only a bearer header that was let through is in there.
        const snapshot = store.read();
        const recalled = bearerDecisions.recall(header, needs, snapshot, Date.now());
        if (recalled) return recalled;
        const bearer = parseBearerAuthorization(header);
        if (bearer) return authorizeBearer(req, header, bearer, needs, snapshot);
      }
      const basic = parseBasicAuthorization(header);
      const caller = basic ? authenticateBasic(req, basic, needs) : anonymousCaller();
      // `GET /v2/` and the catalog need an identity; docker login relies on that 401.
      if (needs.length === 0 && !basic) throw challenge(req, needs, 'authentication required');
      checkNeeds(req, needs, caller, false);
      return caller;
    },
  };
}
