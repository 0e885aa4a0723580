import type { IncomingMessage, ServerResponse } from 'node:http';
import { tokenPrefix, verifyToken } from '../auth/access-tokens.js';
import type { AuditLog } from '../auth/audit-log.js';
import {
  grantAccess,
  issueBearerToken,
  parseBasicAuthorization,
  parseResourceScopes,
  parseTokenRequestForm,
  withPullTargets,
  type GrantPolicy,
  type ResourceAccess,
  type Subject,
} from '../auth/bearer-tokens.js';
import { isAuthError } from '../auth/errors.js';
import type { RateLimiter } from '../auth/rate-limiter.js';
import { RegistryError } from '../core/errors.js';
import type { StateStore } from '../state/index.js';
import { readSmallBody, sendJson } from './distribution/context.js';
import type { MountHandler } from './request-router.js';

export interface TokenEndpointOptions {
  store: StateStore;
  jwtKey: Buffer;
  service: string;
  policy: GrantPolicy;
  rateLimiter: RateLimiter;
  audit: AuditLog;
  onFailure?: (reason: string) => void;
  /**
   * The local repository a pull of a name is served from (the mirror's name mapping: `library/redis` on a root
   * mirror is `hub/library/redis`). Without it names are taken as they are.
   */
  pullTarget?: (name: string) => Promise<string>;
}

/**
 * Docker token authentication's token service (`/token`): `GET` with optional Basic credentials
 * (any user name, an access token as password) and the OAuth2 `POST` form containerd and newer
 * docker send. The JWT it issues grants the requested scopes intersected with what the caller may
 * do, never more, after the mirror's name mapping; without credentials it grants anonymous pulls only.
 */
export function createTokenEndpoint(options: TokenEndpointOptions): MountHandler {
  const { store, jwtKey, service, policy, rateLimiter, audit } = options;

  function authenticate(req: IncomingMessage, password: string | undefined, scopes: ResourceAccess[]): Subject {
    if (password === undefined) return { kind: 'anonymous' };
    // dockerd sends Docker Hub credentials to mirrors: for pulls, a foreign credential is no credential.
    // A request without scopes is a login (`docker login` asks for none): it must check the credential.
    const pullOnly = scopes.length > 0 && scopes.every((scope) => scope.actions.every((action) => action === 'pull'));
    if (!password.startsWith(tokenPrefix) && pullOnly) return { kind: 'anonymous' };
    const address = req.socket.remoteAddress ?? 'unknown';
    const decision = rateLimiter.check(address);
    if (!decision.allowed) {
      options.onFailure?.('rate_limited');
      throw new RegistryError('TOOMANYREQUESTS', 'too many failed authentication attempts; try again later', {
        headers: { 'Retry-After': String(decision.retryAfterSeconds) },
      });
    }
    const result = verifyToken(store, password);
    if (!result.ok) {
      rateLimiter.recordFailure(address);
      options.onFailure?.('invalid_credentials');
      void audit.record({ action: 'auth.failed', actor: result.name ?? 'unknown', client: address, outcome: 'failure', detail: { reason: result.reason, endpoint: 'token' } }).catch(() => undefined);
      throw new RegistryError('UNAUTHORIZED', `access token ${result.reason === 'unknown' ? 'not recognised' : result.reason}`, {
        headers: { 'WWW-Authenticate': `Basic realm="${service}"` },
      });
    }
    rateLimiter.recordSuccess(address);
    return { kind: 'token', record: result.record };
  }

  return async (req: IncomingMessage, res: ServerResponse, pathname: string, search: string) => {
    if (pathname !== '/token') throw new RegistryError('NAME_UNKNOWN', 'not found', { status: 404 });
    let password: string | undefined;
    let scopes: ResourceAccess[];
    if (req.method === 'GET') {
      const query = new URLSearchParams(search);
      password = parseBasicAuthorization(req.headers.authorization)?.password;
      scopes = parseResourceScopes(query.getAll('scope'));
    } else if (req.method === 'POST') {
      try {
        const form = parseTokenRequestForm((await readSmallBody(req, 64 * 1024)).toString('utf8'));
        password = form.password;
        scopes = form.scopes;
      } catch (error) {
        if (isAuthError(error)) {
          // RFC 6749 error body: what OAuth2 clients parse to decide on a fallback.
          sendJson(res, 400, { error: error.code === 'BERTH_GRANT_UNSUPPORTED' ? 'unsupported_grant_type' : 'invalid_request', error_description: error.message });
          return;
        }
        throw error;
      }
    } else {
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on /token`, { headers: { Allow: 'GET, POST' } });
    }
    if (options.pullTarget) scopes = await withPullTargets(scopes, options.pullTarget);
    const subject = authenticate(req, password, scopes);
    const access = grantAccess(scopes, subject, policy);
    const issued = issueBearerToken({ key: jwtKey, issuer: 'berth', service, subject, access });
    // OAuth2 clients read access_token, Docker clients read token: both are the same JWT.
    sendJson(res, 200, { ...issued, scope: access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ') }, { 'Cache-Control': 'no-store' });
  };
}
