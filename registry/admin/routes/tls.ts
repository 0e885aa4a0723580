import { Router } from 'express';
import { exportCaCertificate } from '../../tls/export-ca.js';
import { tlsPaths } from '../../tls/tls-paths.js';
import { trustSections } from '../../tls/trust-instructions.js';
import { adminRoutes, type TrustResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { defaultTlsListen } from './settings.js';

/** The local CA for download, and how to make each client trust it. */
export function tlsRoutes(ctx: AdminContext): Router {
  const router = Router();

  router.get(adminRoutes.caCertificate, async (_req, res) => {
    const pem = await exportCaCertificate(ctx.dataDir);
    res.set({ 'Content-Type': 'application/x-pem-file', 'Content-Disposition': 'attachment; filename="berth-ca.crt"' }).send(pem);
  });

  router.get(adminRoutes.trust, (_req, res) => {
    const https = ctx.urls().https;
    const saved = ctx.state.read().settings.tlsListen;
    // What clients dial: the running HTTPS listener, else the address it will have.
    const hostPort = https ? new URL(https).host : typeof saved === 'string' && saved ? saved : defaultTlsListen;
    const caPath = tlsPaths(ctx.dataDir).caCert;
    const body: TrustResponse = {
      caPath,
      hostPort,
      sections: trustSections({ caPath, hostPort }).map((section) => ({ ...section, commands: [...section.commands], notes: [...section.notes] })),
    };
    res.json(body);
  });
  return router;
}
