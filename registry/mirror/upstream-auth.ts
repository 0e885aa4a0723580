import type { Logger } from '../log.js';
import { UpstreamUnavailableError } from './errors.js';
import { networkFailure, statusFailure } from './failure-mapping.js';
import { readBody, type Transport } from './http-transport.js';
import { createPromiseFlight } from './single-flight.js';
import type { Challenge } from './www-authenticate.js';

/**
 * Credentials towards one upstream: Basic, or Docker token auth (distribution's `docs/spec/auth/token.md`).
 * On a 401 the client hands the challenge here and retries once with the header returned. Tokens are cached
 * per scope until shortly before they expire, and once an upstream has asked for a scheme the matching header
 * is sent up front, so steady-state requests cost one round trip, not two.
 */
export interface UpstreamAuthOptions {
  readonly upstream: string;
  readonly username?: string;
  readonly password?: string;
  readonly transport: Transport;
  /** The upstream's host name: a token realm there gets the credentials even over plain HTTP (on loopback). */
  readonly ownHost?: string;
  readonly logger: Logger;
  /** Clock for token expiry; default Date.now. */
  readonly now?: () => number;
}

export interface UpstreamAuth {
  /** The Authorization header to send up front for a request needing `scope` (undefined: none known yet). */
  authorizationFor(scope: string | undefined): string | undefined;
  /** Answers a 401's challenges with the Authorization header to retry with; throws UpstreamUnavailableError. */
  respond(challenges: readonly Challenge[], scope: string | undefined): Promise<string>;
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

const defaultTokenSeconds = 60;
const tokenBodyLimit = 1024 * 1024;

export function createUpstreamAuth(options: UpstreamAuthOptions): UpstreamAuth {
  const now = options.now ?? Date.now;
  const basic = options.username !== undefined && options.password !== undefined
    ? `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`
    : undefined;
  let scheme: 'none' | 'basic' | 'bearer' = 'none';
  let bearerRealm: { realm: string; service: string | undefined } | undefined;
  const tokens = new Map<string, CachedToken>();
  const tokenFlights = createPromiseFlight<CachedToken>();

  const cacheKey = (realm: string, service: string | undefined, scope: string | undefined): string =>
    `${realm}\n${service ?? ''}\n${scope ?? ''}`;

  const fresh = (key: string): CachedToken | undefined => {
    const cached = tokens.get(key);
    if (cached === undefined) return undefined;
    if (cached.expiresAt > now()) return cached;
    tokens.delete(key);
    return undefined;
  };

  async function fetchToken(realm: string, service: string | undefined, scope: string | undefined): Promise<CachedToken> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UpstreamUnavailableError(options.upstream, 'protocol', `token realm is not a URL: ${realm.slice(0, 200)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new UpstreamUnavailableError(options.upstream, 'protocol', `token realm has an unsupported scheme: ${url.protocol}`);
    }
    if (service !== undefined) url.searchParams.set('service', service);
    for (const part of (scope ?? '').split(' ').filter(Boolean)) url.searchParams.append('scope', part);
    const headers: Record<string, string> = { accept: 'application/json' };
    // The upstream's credentials go to the realm it names only over TLS, or to the upstream's own host (which
    // already gets them, over TLS or on this machine: validateUpstream refuses the rest).
    const ownHost = options.ownHost !== undefined && url.hostname.toLowerCase() === options.ownHost.toLowerCase();
    if (basic !== undefined && (url.protocol === 'https:' || ownHost)) headers.authorization = basic;
    else if (basic !== undefined) {
      options.logger.warn({ upstream: options.upstream, host: url.host }, 'token realm is plain HTTP on another host: asking anonymously');
    }
    const what = 'token request';
    let response;
    try {
      response = await options.transport.send({ url, method: 'GET', headers });
    } catch (error) {
      throw networkFailure(options.upstream, error, what);
    }
    let body: Buffer;
    try {
      body = await readBody(response.body, tokenBodyLimit);
    } catch (error) {
      throw networkFailure(options.upstream, error, what);
    }
    if (response.status !== 200) {
      const failure = statusFailure(options.upstream, response.status, response.headers, body, what);
      // A token service never "has not found" anything: whatever it refuses is an auth problem.
      if (failure instanceof UpstreamUnavailableError) throw failure;
      const message = `${what}: the token service answered ${response.status}`;
      throw new UpstreamUnavailableError(options.upstream, 'unauthorized', message, { status: response.status });
    }
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new UpstreamUnavailableError(options.upstream, 'protocol', `${what}: the token service did not answer JSON`);
    }
    const token = typeof parsed.token === 'string' && parsed.token !== '' ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new UpstreamUnavailableError(options.upstream, 'protocol', `${what}: the token service's answer holds no token`);
    }
    const seconds = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : defaultTokenSeconds;
    const lifetimeMs = seconds * 1000;
    // Renew ahead of expiry so a token does not lapse between being picked and reaching the registry.
    const margin = Math.min(10_000, lifetimeMs / 2);
    options.logger.debug({ upstream: options.upstream, scope, expiresInSeconds: seconds }, 'obtained an upstream bearer token');
    return { token, expiresAt: now() + lifetimeMs - margin };
  }

  async function bearerFor(realm: string, service: string | undefined, scope: string | undefined): Promise<string> {
    const key = cacheKey(realm, service, scope);
    // Concurrent requests for one scope (a pull fetches many blobs at once) share one token request. It is not
    // tied to any caller's AbortSignal: one client giving up must not fail the others.
    const obtained = await tokenFlights.run(key, () => fetchToken(realm, service, scope));
    tokens.set(key, obtained);
    return obtained.token;
  }

  return {
    authorizationFor(scope) {
      if (scheme === 'basic') return basic;
      if (scheme === 'bearer' && bearerRealm !== undefined) {
        const cached = fresh(cacheKey(bearerRealm.realm, bearerRealm.service, scope));
        return cached !== undefined ? `Bearer ${cached.token}` : undefined;
      }
      return undefined;
    },

    async respond(challenges, scope) {
      const bearer = challenges.find((challenge) => challenge.scheme === 'bearer');
      const realm = bearer?.params.realm;
      if (bearer !== undefined && realm !== undefined && realm !== '') {
        scheme = 'bearer';
        const service = bearer.params.service;
        bearerRealm = { realm, service };
        // The request's own scope is what we cache under (so authorizationFor finds it); the challenge's scope,
        // when present, is what the registry asked for, so that is what the token is requested with.
        const wanted = bearer.params.scope ?? scope;
        // A 401 means whatever token was sent did not do: never answer it with the same cached token.
        tokens.delete(cacheKey(realm, service, scope));
        tokens.delete(cacheKey(realm, service, wanted));
        const token = await bearerFor(realm, service, wanted);
        const obtained = tokens.get(cacheKey(realm, service, wanted));
        if (scope !== undefined && wanted !== scope && obtained !== undefined) tokens.set(cacheKey(realm, service, scope), obtained);
        return `Bearer ${token}`;
      }
      if (challenges.some((challenge) => challenge.scheme === 'basic')) {
        if (basic === undefined) {
          const message = 'the upstream requires a username and password (Basic auth)';
          throw new UpstreamUnavailableError(options.upstream, 'unauthorized', message, { status: 401 });
        }
        scheme = 'basic';
        return basic;
      }
      const offered = challenges.map((challenge) => challenge.scheme).join(', ') || 'none';
      const message = `authentication required with an unsupported scheme (${offered})`;
      throw new UpstreamUnavailableError(options.upstream, 'unauthorized', message, { status: 401 });
    },
  };
}
