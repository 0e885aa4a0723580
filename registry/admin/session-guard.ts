import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, Response } from 'express';
import { adminCookieName, adminCsrfHeader, adminCsrfValue } from './contract.js';
import { AdminError } from './admin-error.js';
import type { AdminSignIn } from './sign-in.js';

const signInHint = 'run `berth ui-url` to get a sign-in link';
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The value of one cookie from the Cookie header, or undefined. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at === -1) continue;
    if (part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

export function isHttps(req: Request): boolean {
  return (req.socket as Partial<TLSSocket>).encrypted === true;
}

/** `Set-Cookie` for the session: HttpOnly (scripts never see it), SameSite=Strict, Secure on HTTPS. */
export function sessionCookie(req: Request, value: string, maxAgeSeconds: number): string {
  const parts = [`${adminCookieName}=${value}`, 'HttpOnly', 'SameSite=Strict', 'Path=/', `Max-Age=${maxAgeSeconds}`];
  if (isHttps(req)) parts.push('Secure');
  return parts.join('; ');
}

/**
 * Guards every admin route but health: a live session cookie, and for mutations a header that a cross-site form
 * or image tag cannot send (`X-Berth-Admin: 1`, or a JSON body, which needs a CORS preflight Berth never grants).
 */
export function requireSession(signIn: AdminSignIn) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (!signIn.isSession(readCookie(req, adminCookieName))) {
      throw new AdminError('BERTH_ADMIN_SIGNIN_REQUIRED', 401, 'sign in to use the admin API', signInHint);
    }
    if (!safeMethods.has(req.method)) {
      const marked = req.get(adminCsrfHeader) === adminCsrfValue;
      const json = /^application\/json\s*(;|$)/i.test(req.get('content-type') ?? '');
      if (!marked && !json) {
        throw new AdminError('BERTH_ADMIN_CSRF', 403, `changes need the header ${adminCsrfHeader}: ${adminCsrfValue} or a JSON body`);
      }
    }
    next();
  };
}
