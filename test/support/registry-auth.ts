import http from 'node:http';
import https from 'node:https';

/**
 * A literal HTTP client for access-control tests: every request says exactly which credentials it carries
 * (none, Basic with an access token, or a Bearer JWT) and, optionally, from which loopback source address it
 * comes. Berth's failed-login limiter counts per client address, so a test that makes many refused requests on
 * purpose spreads them over 127.x.y.z addresses instead of tripping the limiter it is not testing.
 */

export type Credentials = { kind: 'none' } | { kind: 'basic'; username: string; password: string } | { kind: 'bearer'; jwt: string };

export interface CallOptions {
  readonly credentials?: Credentials;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | string;
  /** Source address of the connection, e.g. '127.3.0.7' (anything in 127/8 is local on Linux). */
  readonly localAddress?: string;
  /** PEM of the CA to trust for https:// URLs (nothing else is trusted). */
  readonly ca?: string;
  /**
   * The name the TLS certificate is checked against (and sent as SNI). Default: the URL's host name, never a Host
   * header (node would otherwise take it from there, which tests of odd Host headers must not depend on).
   */
  readonly servername?: string;
  readonly timeoutMs?: number;
}

export interface CallResult {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** `body` as text, for messages and JSON. */
  readonly text: string;
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

export function authorizationOf(credentials: Credentials | undefined): string | undefined {
  if (!credentials || credentials.kind === 'none') return undefined;
  return credentials.kind === 'basic' ? basicHeader(credentials.username, credentials.password) : `Bearer ${credentials.jwt}`;
}

/** One request; never throws on an HTTP status, only on a transport failure or timeout. */
export function call(method: string, url: string, options: CallOptions = {}): Promise<CallResult> {
  const target = new URL(url);
  const headers: Record<string, string> = { ...options.headers };
  const authorization = authorizationOf(options.credentials);
  if (authorization) headers.authorization = authorization;
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body;
  if (body) headers['content-length'] = String(body.byteLength);
  else if (method === 'POST' || method === 'PUT' || method === 'PATCH') headers['content-length'] = '0';
  const secure = target.protocol === 'https:';
  const requestOptions: https.RequestOptions = {
    method,
    host: target.hostname,
    port: target.port,
    path: `${target.pathname}${target.search}`,
    headers,
    localAddress: options.localAddress,
    agent: false,
    ...(secure ? { ca: options.ca, servername: options.servername ?? (target.hostname === '127.0.0.1' ? undefined : target.hostname) } : {}),
  };
  return new Promise<CallResult>((resolve, reject) => {
    const req = (secure ? https : http).request(requestOptions, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes, text: bytes.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', (error) => reject(new Error(`${method} ${url} failed: ${error.message}`, { cause: error })));
    req.end(body);
  });
}

/** The OCI error codes of a response body (empty when it is not an error body). */
export function errorCodesOf(result: CallResult): string[] {
  try {
    const parsed = JSON.parse(result.text) as { errors?: Array<{ code?: unknown }> };
    return (parsed.errors ?? []).map((error) => String(error.code));
  } catch {
    return [];
  }
}

/** The parameters of a `WWW-Authenticate: Bearer k="v",...` challenge; undefined when it is not Bearer. */
export function parseBearerChallenge(header: string | string[] | undefined): Record<string, string> | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (!text || !/^Bearer\s/i.test(text)) return undefined;
  const params: Record<string, string> = {};
  for (const match of text.slice(7).matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/gi)) {
    params[match[1]!.toLowerCase()] = match[2]!.replace(/\\(.)/g, '$1');
  }
  return params;
}

export interface GrantedAccess {
  type: string;
  name: string;
  actions: string[];
}

export interface JwtPayload {
  sub: string;
  aud: string;
  iss: string;
  exp: number;
  iat: number;
  access: GrantedAccess[];
  tid?: string;
}

/** The claims of a compact JWT, decoded without verification (the test reads what the server granted). */
export function decodeJwt(jwt: string): JwtPayload {
  const payload = jwt.split('.')[1];
  if (!payload) throw new Error(`not a compact JWT: ${jwt.slice(0, 20)}…`);
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as JwtPayload;
}

/** `GET <base>/token?service=berth&scope=...` with optional Basic credentials, as Docker clients do. */
export async function fetchBearer(
  base: string,
  scopes: readonly string[],
  options: { credentials?: Credentials; localAddress?: string; ca?: string; service?: string } = {},
): Promise<{ result: CallResult; jwt?: string }> {
  const query = new URLSearchParams({ service: options.service ?? 'berth' });
  for (const scope of scopes) query.append('scope', scope);
  const result = await call('GET', `${base}/token?${query.toString()}`, options);
  if (result.status !== 200) return { result };
  const body = JSON.parse(result.text) as { token?: string; access_token?: string };
  return { result, jwt: body.token ?? body.access_token };
}

/**
 * Distinct loopback source addresses (127.1.0.1, 127.1.0.2, ...), skipping .0 and .255 octets.
 * Each call returns the next one.
 */
export function createAddressPool(secondOctet = 1): () => string {
  let next = 0;
  return () => {
    next += 1;
    const third = Math.floor(next / 254) % 254;
    const fourth = (next % 254) + 1;
    return `127.${secondOctet}.${third + 1}.${fourth}`;
  };
}
