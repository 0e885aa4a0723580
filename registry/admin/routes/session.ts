import { Router, type Request, type Response } from 'express';
import { adminCookieName, adminRoutes } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { clientOf } from '../request-helpers.js';
import { readCookie, sessionCookie } from '../session-guard.js';
import { sessionTtlMs } from '../sign-in.js';

/** A page, not JSON: the sign-in link is opened by a person in a browser. */
function refusal(res: Response): void {
  res
    .status(401)
    .type('html')
    .send(`<!doctype html><meta charset="utf-8"><title>Berth: sign-in link not valid</title>
<p>This sign-in link is not valid: it was already used, has expired (links work for 10 minutes) or was mistyped.</p>
<p>Run <code>berth ui-url</code> for a new one.</p>`);
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
      void ctx.audit
        .record({ action: 'admin.signin', actor: 'anonymous', client: clientOf(req), outcome: 'denied' })
        .catch((error: unknown) => ctx.log.error({ err: error }, 'audit write failed'));
      refusal(res);
      return;
    }
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
