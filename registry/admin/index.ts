import { trashRoutes } from './routes/trash.js';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Mount } from '../http/request-router.js';
import type { Registry } from '../index.js';
import { AdminError, adminErrorHandler, sendAdminRefusal } from './admin-error.js';
import { adminRoutes } from './contract.js';
import type { AdminContext, AdminDeps } from './deps.js';
import { createAdminEventHub } from './event-hub.js';
import { createImageInspector } from './image-inspect.js';
import { auditRoutes } from './routes/audit.js';
import { contentRoutes } from './routes/content.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { imageImportRoutes } from './routes/image-import.js';
import { namespaceRoutes } from './routes/namespaces.js';
import { overviewRoutes } from './routes/overview.js';
import { repositoryRoutes } from './routes/repositories.js';
import { retentionRoutes } from './routes/retention.js';
import { sessionRoutes } from './routes/session.js';
import { settingsRoutes } from './routes/settings.js';
import { createStorageReport, storageRoutes } from './routes/storage.js';
import { encryptionRoutes } from './routes/encryption.js';
import { syncRuleRoutes } from './routes/sync-rules.js';
import { tlsRoutes } from './routes/tls.js';
import { tokenRoutes } from './routes/tokens.js';
import { upstreamRoutes } from './routes/upstreams.js';
import { requireSession } from './session-guard.js';
import { createAdminSignIn } from './sign-in.js';
import { createSignInFailures } from './sign-in-failures.js';

/**
 * The admin API (`/api/...`) for the GUI and scripts, and the sign-in link handler (`/ui/signin`): an express app
 * behind two mounts of the registry's request router. See contract.ts for every route and body.
 *
 * Order matters: health is public; everything else checks the session (and the CSRF header on changes) before a
 * body is even parsed; one error handler writes every failure in the contract's shape.
 */
export function createAdminApi(deps: AdminDeps): Mount[] {
  const { registry: registryOrGetter, certificates: certificatesOrGetter, ...rest } = deps;
  const registry = (): Registry => {
    const resolved = typeof registryOrGetter === 'function' ? registryOrGetter() : registryOrGetter;
    if (!resolved) throw new Error('the admin API was used before its registry was created');
    return resolved;
  };
  const ctx: AdminContext = {
    ...rest,
    get registry() {
      return registry();
    },
    get certificates() {
      return typeof certificatesOrGetter === 'function' ? certificatesOrGetter() : certificatesOrGetter;
    },
    hub: createAdminEventHub(() => registry().events, deps.mirror),
    signIn: createAdminSignIn(deps.state),
    signInFailures: deps.signInFailures ?? createSignInFailures({ audit: deps.audit, log: deps.log }),
    startedAt: deps.startedAt ?? Date.now(),
  };
  const storage = createStorageReport(ctx);
  const session = sessionRoutes(ctx);

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.set({ 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' });
    next();
  });
  app.use(healthRoutes(ctx));
  app.use(session.signIn);
  app.use('/api', requireSession(ctx.signIn));
  app.use('/api', express.json({ limit: '1mb' }));
  for (const router of [
    session.signOut,
    overviewRoutes(ctx, storage),
    storageRoutes(storage),
    ...(deps.encryption ? [encryptionRoutes(ctx, deps.encryption)] : []),
    namespaceRoutes(ctx),
    repositoryRoutes(ctx, createImageInspector(registry)),
    contentRoutes(ctx),
    tokenRoutes(ctx),
    upstreamRoutes(ctx),
    syncRuleRoutes(ctx),
    settingsRoutes(ctx),
    auditRoutes(ctx),
    tlsRoutes(ctx),
    eventRoutes(ctx),
    retentionRoutes(ctx),
    imageImportRoutes(ctx),
    trashRoutes(ctx),
  ]) {
    app.use(router);
  }
  app.use((req: Request) => {
    throw new AdminError('BERTH_NOT_FOUND', 404, `no admin route ${req.method} ${req.path.slice(0, 200)}`);
  });
  app.use(adminErrorHandler(deps.log));

  const handle: Mount['handle'] = (req, res) => {
    app(req, res);
  };
  return [
    { prefix: '/api', handle, refuse: sendAdminRefusal },
    { prefix: adminRoutes.signIn, handle, refuse: sendAdminRefusal },
  ];
}

export { createSignInUrl, createAdminSignIn, signInCodeTtlMs, sessionTtlMs, type AdminSignIn, type AdminSession } from './sign-in.js';
export { createSignInFailures, type SignInFailures, type SignInFailuresOptions } from './sign-in-failures.js';
export { AdminError } from './admin-error.js';
export type { AdminDeps } from './deps.js';
export type { MirrorControl, MirrorEvent, AdminEvent } from './contract.js';
