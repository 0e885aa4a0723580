import { Router } from 'express';
import { adminRoutes, type HealthResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';

/** `GET /api/health`: no session needed (used by the desktop shell and scripts to see the server is up). */
export function healthRoutes(ctx: AdminContext): Router {
  const router = Router();
  router.get(adminRoutes.health, (_req, res) => {
    const body: HealthResponse = { status: 'ok', version: ctx.version, uptimeSeconds: Math.floor((Date.now() - ctx.startedAt) / 1000) };
    res.set('Cache-Control', 'no-store').json(body);
  });
  return router;
}
