import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthError } from './errors.js';
import { loadOrCreateSecretKey } from './secret-key.js';

/**
 * Compact JWS with HS256 over node:crypto: the registry both issues and verifies its bearer tokens, so a shared
 * secret is enough and no JWT library is needed. Verification accepts HS256 only (no `none`, no algorithm picked
 * by the token), compares signatures in constant time and checks exp/nbf/aud.
 */
export interface JwtClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  [claim: string]: unknown;
}

export interface VerifyJwtOptions {
  /** The expected `aud` (the registry's service name). */
  audience: string;
  /** The expected `iss`, if the caller wants it checked. */
  issuer?: string;
  now?: Date;
  /** Clock skew tolerated on exp/nbf. Default 30 s. */
  leewaySeconds?: number;
}

const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

function hs256(key: Buffer, input: string): Buffer {
  return createHmac('sha256', key).update(input).digest();
}

export function signJwt(key: Buffer, claims: JwtClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const input = `${header}.${payload}`;
  return `${input}.${hs256(key, input).toString('base64url')}`;
}

function invalid(reason: string): AuthError {
  return new AuthError('BERTH_JWT_INVALID', `invalid bearer token: ${reason}`);
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalid(`malformed ${what}`);
}

export function verifyJwt(key: Buffer, token: string, options: VerifyJwtOptions): JwtClaims {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part))) throw invalid('not a compact JWS');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const head = decodeJson(headerPart, 'header');
  if (head.alg !== 'HS256') throw invalid(`algorithm ${String(head.alg)} is not accepted`);
  const expected = hs256(key, `${headerPart}.${payloadPart}`);
  const presented = Buffer.from(signaturePart, 'base64url');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw invalid('bad signature');

  const claims = decodeJson(payloadPart, 'payload');
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  const leeway = options.leewaySeconds ?? 30;
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    if (typeof claims[name] !== 'number') throw invalid(`missing ${name}`);
  }
  if (now - leeway >= (claims.exp as number)) throw invalid('expired');
  if (now + leeway < (claims.nbf as number)) throw invalid('not valid yet');
  const audience = claims.aud;
  const audiences = Array.isArray(audience) ? audience : [audience];
  if (!audiences.includes(options.audience)) throw invalid('issued for another service');
  if (options.issuer !== undefined && claims.iss !== options.issuer) throw invalid('unknown issuer');
  if (typeof claims.sub !== 'string' || typeof claims.jti !== 'string') throw invalid('missing sub or jti');
  return claims as JwtClaims;
}

export const jwtKeyRelativePath = 'auth/jwt.key';

/** The 256-bit signing key in `<dataDir>/auth/jwt.key` (file 0600, directory 0700), created on first use. */
export function loadOrCreateJwtKey(dataDir: string): Promise<Buffer> {
  return loadOrCreateSecretKey(dataDir, jwtKeyRelativePath);
}
