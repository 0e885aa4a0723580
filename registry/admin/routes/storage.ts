import { Router } from 'express';
import { createStorageUsage, type StorageUsageMeter } from '../../metrics/storage-usage.js';
import { adminRoutes, type StorageResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';

/** Storage figures, shared by `/api/storage` and the overview. The blob walk is cached for a few seconds. */
export function createStorageReport(ctx: AdminContext): () => Promise<StorageResponse> {
  const meter: StorageUsageMeter = createStorageUsage(ctx.dataDir, { ttlMs: 5_000 });
  return async () => {
    const [usage, repositories] = await Promise.all([meter.read(), ctx.registry.repositories.listRepositories()]);
    return { bytes: usage.bytes, blobs: usage.files, repositories: repositories.length };
  };
}

export function storageRoutes(report: () => Promise<StorageResponse>): Router {
  const router = Router();
  router.get(adminRoutes.storage, async (_req, res) => {
    res.json(await report());
  });
  return router;
}
