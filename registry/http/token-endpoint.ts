import type { IncomingMessage, ServerResponse } from 'node:http';
import { tokenPrefix } from '../auth/access-tokens.js';
import type { CredentialCheck, PresentedCredential } from '../auth/credential-check.js';
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
import { RegistryError } from '../core/errors.js';
import type { StateStore } from '../state/index.js';
import { readSmallBody, sendJson } from './distribution/context.js';
import type { MountHandler } from './request-router.js';

export interface TokenEndpointOptions {
  store: StateStore;
  jwtKey: Buffer;
  service: string;
  policy: GrantPolicy;
  /** Checks the access token a client logs in with, with the failure limit (shared with the registry's gate). */
  credentials: CredentialCheck;
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
  const { store, jwtKey, service, policy, credentials } = options;

  function authenticate(req: IncomingMessage, credential: PresentedCredential | undefined, scopes: ResourceAccess[]): Subject {
    if (credential === undefined) return { kind: 'anonymous' };
    // dockerd sends Docker Hub credentials to mirrors: for pulls, a foreign credential is no credential.
    // A request without scopes is a login (`docker login` asks for none): it must check the credential.
    const pullOnly = scopes.length > 0 && scopes.every((scope) => scope.actions.every((action) => action === 'pull'));
    if (!credential.password.startsWith(tokenPrefix) && pullOnly) return { kind: 'anonymous' };
    const result = credentials.verify(req, credential, { endpoint: 'token' });
    if (!result.ok) throw new RegistryError('UNAUTHORIZED', result.message, { headers: { 'WWW-Authenticate': `Basic realm="${service}"` } });
    return { kind: 'token', record: result.record };
  }

  return async (req: IncomingMessage, res: ServerResponse, pathname: string, search: string) => {
    if (pathname !== '/token') throw new RegistryError('NAME_UNKNOWN', 'not found', { status: 404 });
    if (req.method !== 'GET' && req.method !== 'POST') {
      throw new RegistryError('UNSUPPORTED', `${req.method} is not supported on /token`, { headers: { Allow: 'GET, POST' } });
    }
    let request: TokenRequest;
    try {
      request = await readTokenRequest(req, search);
    } catch (error) {
      if (!isAuthError(error)) throw error;
      // The client's mistake (a malformed scope, a missing field), in RFC 6749's error body (§5.2), which OAuth2
      // clients parse to decide on a fallback; GET answers the same way, so the token service has one dialect.
      sendJson(res, 400, { error: error.code === 'BERTH_GRANT_UNSUPPORTED' ? 'unsupported_grant_type' : 'invalid_request', error_description: error.message }, { 'Cache-Control': 'no-store' });
      return;
    }
    const { credential } = request;
    let { scopes } = request;
    if (options.pullTarget) scopes = await withPullTargets(scopes, options.pullTarget);
    const subject = authenticate(req, credential, scopes);
    let access = grantAccess(scopes, subject, policy);
    // A namespace made public (or a token widened) by the CLI a moment ago: look at the file before granting less.
    if (grantsLess(access, scopes) && store.refresh()) access = grantAccess(scopes, authenticate(req, credential, scopes), policy);
    const issued = issueBearerToken({ key: jwtKey, issuer: 'berth', service, subject, access });
    // OAuth2 clients read access_token, Docker clients read token: both are the same JWT.
    sendJson(res, 200, { ...issued, scope: access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' ') }, { 'Cache-Control': 'no-store' });
  };
}

/** Whether some requested action is missing from the grant. */
function grantsLess(granted: readonly ResourceAccess[], requested: readonly ResourceAccess[]): boolean {
  return requested.some((want) =>
    want.actions.some((action) => !granted.some((have) => have.type === want.type && have.name === want.name && have.actions.includes(action))),
  );
}

interface TokenRequest {
  credential: PresentedCredential | undefined;
  scopes: ResourceAccess[];
}

/** The credential and scopes of a GET (Basic header, `scope` query) or a POST (OAuth2 form); throws AuthError when malformed. */
async function readTokenRequest(req: IncomingMessage, search: string): Promise<TokenRequest> {
  if (req.method === 'POST') {
    const form = parseTokenRequestForm((await readSmallBody(req, 64 * 1024, 'token request form')).toString('utf8'));
    return { credential: { username: form.username, password: form.password }, scopes: form.scopes };
  }
  return {
    credential: parseBasicAuthorization(req.headers.authorization) ?? undefined,
    scopes: parseResourceScopes(new URLSearchParams(search).getAll('scope')),
  };
}
