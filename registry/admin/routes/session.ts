import { Router, type Request, type Response } from 'express';
import { adminCookieName, adminRoutes } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { clientOf } from '../request-helpers.js';
import { readCookie, sessionCookie } from '../session-guard.js';
import { sessionTtlMs } from '../sign-in.js';

const notValid = `<p>This sign-in link is not valid: it was already used, has expired (links work for 10 minutes) or was mistyped.</p>
<p>Run <code>berth ui-url</code> for a new one.</p>`;

/** A page, not JSON: the sign-in link is opened by a person in a browser. */
function refusal(res: Response): void {
  res.status(401).type('html').send(`<!doctype html><meta charset="utf-8"><title>Berth: sign-in link not valid</title>
${notValid}`);
}

/** After many links that did not work from one address. A valid link still works at once: say so. */
function tooManyFailures(res: Response, retryAfterSeconds: number): void {
  res
    .status(429)
    .set('Retry-After', String(retryAfterSeconds))
    .type('html')
    .send(`<!doctype html><meta charset="utf-8"><title>Berth: too many sign-in links that do not work</title>
<p>Too many sign-in links that do not work were opened from your address in the last minute.</p>
${notValid.replace('Run <code>berth ui-url</code> for a new one.', 'Run <code>berth ui-url</code> for a new one: a new link works at once.')}`);
}

/** `GET /ui/signin?code=` (trade a one-time code for a session cookie) and `POST /api/signout`. */
export function sessionRoutes(ctx: AdminContext): { signIn: Router; signOut: Router } {
  const signIn = Router();
  signIn.get(adminRoutes.signIn, async (req: Request, res: Response) => {
    // The code is in the URL: keep it out of caches and out of the Referer of whatever the next page loads.
    res.set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
    const code = typeof req.query.code === 'string' ? req.query.code : '';
    const session = await ctx.signIn.redeemCode(code);
    if (!session) {
      // Audited in aggregate and limited per address, but a valid code is never refused (see sign-in-failures.ts).
      const decision = ctx.signInFailures.failed(clientOf(req));
      if (decision.allowed) refusal(res);
      else tooManyFailures(res, decision.retryAfterSeconds);
      return;
    }
    ctx.signInFailures.succeeded(clientOf(req));
    await ctx.audit.record({ action: 'admin.signin', actor: 'admin', client: clientOf(req), outcome: 'success' });
    res.set('Set-Cookie', sessionCookie(req, session.id, Math.floor(sessionTtlMs / 1000)));
    res.redirect(303, '/ui/');
  });

  const signOut = Router();
  signOut.post(adminRoutes.signOut, async (req: Request, res: Response) => {
    const id = readCookie(req, adminCookieName);
    if (id) await ctx.signIn.endSession(id);
    res.set('Set-Cookie', sessionCookie(req, '', 0));
    res.status(204).end();
  });
  return { signIn, signOut };
}
