import { Router, type Request } from 'express';
import { createToken, listTokens, revokeToken } from '../../auth/access-tokens.js';
import { badRequest } from '../admin-error.js';
import { adminRoutes, type CreateTokenResponse, type TokensResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { auditChange, bodyOf, nullableString, paramOf, requiredString } from '../request-helpers.js';
import { registryHostOf, tokenView } from '../views.js';

/** Access tokens for registry clients (docker login). The secret is in the create answer only. */
export function tokenRoutes(ctx: AdminContext): Router {
  const router = Router();

  router.get(adminRoutes.tokens, (_req, res) => {
    const now = new Date();
    const body: TokensResponse = { tokens: listTokens(ctx.state).map((record) => tokenView(record, now)) };
    res.set('Cache-Control', 'no-store').json(body);
  });

  router.post(adminRoutes.tokens, async (req: Request, res) => {
    const body = bodyOf(req);
    const name = requiredString(body, 'name');
    const scopes = body.scopes;
    if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string')) {
      throw badRequest('"scopes" must be an array of strings such as "team/*:pull,push"');
    }
    const expiresIn = nullableString(body, 'expiresIn');
    const { token, record } = await createToken(ctx.state, { name, scopes: scopes as string[], expiresIn });
    await auditChange(ctx, req, { action: 'token.create', detail: { name, scopes: scopes as string[], expiresAt: record.expiresAt ?? null } });
    ctx.hub.publish({ type: 'token.created', name });
    const host = registryHostOf(ctx.urls()) ?? '127.0.0.1:5000';
    // The secret stays out of the command (as in the README): a pasted line never puts it in the shell's history.
    const loginCommand = `echo "$TOKEN" | docker login ${host} -u ${name} --password-stdin`;
    const answer: CreateTokenResponse = { token, record: tokenView(record), loginCommand };
    // The secret must not linger in a cache: it is shown once.
    res.status(201).set('Cache-Control', 'no-store').json(answer);
  });

  router.delete(`${adminRoutes.tokens}/:name`, async (req: Request, res) => {
    const name = paramOf(req, 'name');
    const record = await revokeToken(ctx.state, name);
    await auditChange(ctx, req, { action: 'token.revoke', detail: { name: record.name } });
    ctx.hub.publish({ type: 'token.revoked', name: record.name });
    res.json(tokenView(record));
  });
  return router;
}
