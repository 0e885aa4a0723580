import { randomBytes } from 'node:crypto';
import { isRepositoryName, namespaceOf } from '../core/names.js';
import type { StateStore } from '../state/state-store.js';
import type { Action, TokenRecord } from '../state/schema.js';
import { allowedActions, tokenStatus } from './access-tokens.js';
import { AuthError } from './errors.js';
import { signJwt, verifyJwt, type JwtClaims } from './jwt.js';
import { allActions, scopesAllowCatalog } from './scopes.js';

/**
 * Docker token authentication (distribution spec "Token Authentication Specification"): a client refused with
 * `WWW-Authenticate: Bearer realm=…,service=…,scope=…` asks the realm (`/token`) for a short-lived JWT, sending
 * its access token as Basic credentials, and retries with `Authorization: Bearer <jwt>`. The JWT's `access`
 * claim lists what was granted: the requested scopes intersected with what the caller may do, never more.
 */

/** One resource scope, as requested (`repository:team/app:pull,push`) and as granted in the `access` claim. */
export interface ResourceAccess {
  type: string;
  name: string;
  actions: string[];
}

/** Who is asking: an authenticated access token, or nobody. */
export type Subject = { kind: 'token'; record: TokenRecord } | { kind: 'anonymous' };

export interface BearerClaims extends JwtClaims {
  access: ResourceAccess[];
  /** The access token's record id, so a JWT dies with its token (see bearerAccess). Absent for anonymous. */
  tid?: string;
}

export interface TokenResponse {
  token: string;
  /** The same JWT under its OAuth2 name: some clients read one, some the other. */
  access_token: string;
  expires_in: number;
  issued_at: string;
}

/** Five minutes: long enough for a push of many layers to reuse one token, short enough that a leak is brief. */
export const bearerTtlSeconds = 300;

const scopeTypeGrammar = /^[a-z0-9]+(?:\([a-z0-9]+\))?$/;
const actionGrammar = /^(?:[a-z]+|\*)$/;

/**
 * Parses one or more `scope` values. Each may hold several space-separated resource scopes (the POST form).
 * The name sits between the first and the last colon, so a name with a port (`host:5000/app`) still parses.
 * Duplicate resources are merged. Throws on a malformed scope rather than quietly granting less than asked.
 */
export function parseResourceScopes(values: string | readonly string[] | null | undefined): ResourceAccess[] {
  const list = values === null || values === undefined ? [] : typeof values === 'string' ? [values] : values;
  const merged = new Map<string, ResourceAccess>();
  for (const value of list) {
    for (const text of value.split(' ').filter((part) => part.length > 0)) {
      const first = text.indexOf(':');
      const last = text.lastIndexOf(':');
      const type = text.slice(0, first);
      const name = text.slice(first + 1, last);
      const actions = text.slice(last + 1).split(',').filter((action) => action.length > 0);
      const wellFormed =
        first > 0 && last > first && name.length > 0 && scopeTypeGrammar.test(type) && actions.every((a) => actionGrammar.test(a));
      if (!wellFormed) {
        const message = `invalid scope "${text.slice(0, 200)}": expected e.g. repository:team/app:pull,push`;
        throw new AuthError('BERTH_TOKEN_REQUEST_INVALID', message);
      }
      const key = `${type}\u0000${name}`;
      const entry = merged.get(key) ?? { type, name, actions: [] };
      for (const action of actions) if (!entry.actions.includes(action)) entry.actions.push(action);
      merged.set(key, entry);
    }
  }
  return [...merged.values()];
}

export function formatResourceScope(access: ResourceAccess): string {
  return `${access.type}:${access.name}:${access.actions.join(',')}`;
}

/** The repository type with its optional class (`repository(plugin)`) stripped. */
function baseType(type: string): string {
  const paren = type.indexOf('(');
  return paren === -1 ? type : type.slice(0, paren);
}

export interface GrantPolicy {
  /** Whether anyone may pull from this namespace without credentials (NamespaceRecord.anonymousPull). */
  anonymousPullAllowed(namespace: string): boolean;
}

/** The actions `subject` may currently perform on a repository. */
function permittedOnRepository(subject: Subject, repository: string, policy: GrantPolicy): Set<Action> {
  if (!isRepositoryName(repository)) return new Set();
  const permitted = subject.kind === 'token' ? allowedActions(subject.record, repository) : new Set<Action>();
  // A token never has less than anonymous: Docker sends the logged-in token for public namespaces too.
  if (policy.anonymousPullAllowed(namespaceOf(repository))) permitted.add('pull');
  return permitted;
}

/**
 * Granted = requested ∩ permitted. Resources with nothing granted are left out of the result (the registry then
 * answers 401/403 for them). `*` as a requested repository action asks for every action the subject has.
 * `registry:catalog:*` is granted to tokens whose scopes cover every repository.
 */
export function grantAccess(requested: readonly ResourceAccess[], subject: Subject, policy: GrantPolicy): ResourceAccess[] {
  const granted: ResourceAccess[] = [];
  for (const resource of requested) {
    let actions: string[] = [];
    const type = baseType(resource.type);
    if (type === 'repository') {
      const permitted = permittedOnRepository(subject, resource.name, policy);
      const wanted = resource.actions.includes('*') ? [...allActions] : resource.actions;
      actions = wanted.filter((action) => permitted.has(action as Action));
    } else if (type === 'registry' && resource.name === 'catalog') {
      const allowed = subject.kind === 'token' && scopesAllowCatalog(subject.record.scopes);
      actions = allowed ? resource.actions.filter((action) => action === '*') : [];
    }
    if (actions.length > 0) granted.push({ type: resource.type, name: resource.name, actions });
  }
  return granted;
}

/**
 * The requested scopes, plus, for each repository pull the mirror serves from another local name, the same pull
 * under that name. Docker's registry-mirrors and podman with a root mirror ask for `repository:library/redis:pull`
 * (the name as they know it; the token request has no `?ns=` and the challenge's scope is ignored), while the
 * request they then make is checked against `hub/library/redis`, the repository it is served from. Both names are
 * granted on their own merits (grantAccess), so the token covers exactly what the caller may pull once the name is
 * mapped, and the literal name keeps whatever it grants by itself (a push into a new namespace needs pull there).
 */
export async function withPullTargets(requested: readonly ResourceAccess[], pullTarget: (name: string) => Promise<string>): Promise<ResourceAccess[]> {
  const result = requested.map((resource) => ({ ...resource, actions: [...resource.actions] }));
  for (const resource of requested) {
    const pulls = resource.actions.includes('pull') || resource.actions.includes('*');
    if (baseType(resource.type) !== 'repository' || !pulls || !isRepositoryName(resource.name)) continue;
    const target = await pullTarget(resource.name);
    if (target === resource.name) continue;
    const existing = result.find((entry) => entry.type === resource.type && entry.name === target);
    if (!existing) result.push({ type: resource.type, name: target, actions: ['pull'] });
    else if (!existing.actions.includes('pull')) existing.actions.push('pull');
  }
  return result;
}

export interface IssueBearerOptions {
  key: Buffer;
  /** `iss`: who signed the token (e.g. 'berth'). */
  issuer: string;
  /** `aud`: the registry service name, as sent in the `service` parameter and checked on verification. */
  service: string;
  subject: Subject;
  access: ResourceAccess[];
  now?: Date;
  ttlSeconds?: number;
}

export function issueBearerToken(options: IssueBearerOptions): TokenResponse {
  const now = options.now ?? new Date();
  const iat = Math.floor(now.getTime() / 1000);
  const ttl = options.ttlSeconds ?? bearerTtlSeconds;
  const claims: BearerClaims = {
    iss: options.issuer,
    sub: options.subject.kind === 'token' ? options.subject.record.name : 'anonymous',
    aud: options.service,
    exp: iat + ttl,
    nbf: iat,
    iat,
    jti: randomBytes(16).toString('base64url'),
    access: options.access,
    ...(options.subject.kind === 'token' ? { tid: options.subject.record.id } : {}),
  };
  const token = signJwt(options.key, claims);
  return { token, access_token: token, expires_in: ttl, issued_at: new Date(iat * 1000).toISOString() };
}

/** Verifies a bearer JWT (signature, alg, exp/nbf, aud) and the shape of its `access` claim. */
export function verifyBearerToken(
  key: Buffer,
  jwt: string,
  options: { service: string; issuer?: string; now?: Date },
): BearerClaims {
  const claims = verifyJwt(key, jwt, { audience: options.service, issuer: options.issuer, now: options.now });
  const access = claims.access;
  const wellFormed =
    Array.isArray(access) &&
    access.every(
      (entry: unknown) =>
        typeof entry === 'object' &&
        entry !== null &&
        typeof (entry as ResourceAccess).type === 'string' &&
        typeof (entry as ResourceAccess).name === 'string' &&
        Array.isArray((entry as ResourceAccess).actions),
    );
  if (!wellFormed) throw new AuthError('BERTH_JWT_INVALID', 'invalid bearer token: malformed access claim');
  return claims as BearerClaims;
}

export interface BearerAccess {
  /** The token name, or 'anonymous': the audit actor. */
  subject: string;
  /** Whether the request may do `action` on `type:name`. */
  allows(type: string, name: string, action: string): boolean;
}

/**
 * What a verified JWT allows *now*. A JWT lives five minutes, but revoking an access token (or turning off
 * anonymous pull) must take effect within a second, so each check needs both: the action is in the JWT's
 * `access` claim AND the subject is still permitted by the current state (token active, scopes still cover it).
 */
export function bearerAccess(claims: BearerClaims, store: StateStore, policy: GrantPolicy, now: Date = new Date()): BearerAccess {
  let subject: Subject | null;
  if (claims.tid === undefined) {
    subject = claims.sub === 'anonymous' ? { kind: 'anonymous' } : null;
  } else {
    const record = store.read().tokens.find((token) => token.id === claims.tid);
    subject = record && tokenStatus(record, now) === 'active' ? { kind: 'token', record } : null;
  }
  return {
    subject: claims.sub,
    allows(type: string, name: string, action: string): boolean {
      if (!subject) return false;
      const inClaim = claims.access.some(
        (entry) => entry.type === type && entry.name === name && (entry.actions.includes(action) || entry.actions.includes('*')),
      );
      if (!inClaim) return false;
      return grantAccess([{ type, name, actions: [action] }], subject, policy).length > 0;
    },
  };
}

/** `Bearer realm="…",service="…",scope="…"` for a 401. Several scopes are space-separated in one parameter. */
export function wwwAuthenticateBearer(options: {
  realm: string;
  service: string;
  scope?: string | readonly string[] | readonly ResourceAccess[];
  error?: 'invalid_token' | 'insufficient_scope';
}): string {
  const quote = (value: string) => `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
  const parts = [`realm=${quote(options.realm)}`, `service=${quote(options.service)}`];
  const scopes = options.scope === undefined ? [] : typeof options.scope === 'string' ? [options.scope] : options.scope;
  const scopeText = scopes.map((scope) => (typeof scope === 'string' ? scope : formatResourceScope(scope))).join(' ');
  if (scopeText) parts.push(`scope=${quote(scopeText)}`);
  if (options.error) parts.push(`error=${quote(options.error)}`);
  return `Bearer ${parts.join(',')}`;
}

/** Credentials from `Authorization: Basic …`, or null if the header is absent or not Basic. */
export function parseBasicAuthorization(header: string | undefined): { username: string; password: string } | null {
  if (!header) return null;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The token from `Authorization: Bearer …`, or null. */
export function parseBearerAuthorization(header: string | undefined): string | null {
  const match = header ? /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header) : null;
  return match?.[1] ?? null;
}

export interface TokenRequestForm {
  grantType: 'password';
  username: string;
  password: string;
  service: string | null;
  scopes: ResourceAccess[];
  clientId: string | null;
}

/**
 * The OAuth2 form (`POST /token`, application/x-www-form-urlencoded) that containerd and newer Docker clients
 * send. Only `grant_type=password` is served: Berth issues no refresh tokens, so a `refresh_token` grant (or any
 * other) gets a clear BERTH_GRANT_UNSUPPORTED error, which makes those clients fall back to GET with Basic auth.
 */
export function parseTokenRequestForm(body: string | URLSearchParams): TokenRequestForm {
  const form = typeof body === 'string' ? new URLSearchParams(body) : body;
  const grantType = form.get('grant_type');
  if (!grantType) throw new AuthError('BERTH_TOKEN_REQUEST_INVALID', 'missing grant_type');
  if (grantType !== 'password') {
    const message =
      `unsupported grant_type "${grantType.slice(0, 40)}": ` + 'use grant_type=password with username and password (the access token)';
    throw new AuthError('BERTH_GRANT_UNSUPPORTED', message);
  }
  const username = form.get('username');
  const password = form.get('password');
  if (!username || !password) {
    throw new AuthError('BERTH_TOKEN_REQUEST_INVALID', 'grant_type=password needs username and password');
  }
  return {
    grantType: 'password',
    username,
    password,
    service: form.get('service'),
    scopes: parseResourceScopes(form.getAll('scope')),
    clientId: form.get('client_id'),
  };
}
