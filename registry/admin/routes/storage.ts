import { Router, type Request } from 'express';
import { createStorageUsage, type StorageUsageMeter } from '../../metrics/storage-usage.js';
import { adminRoutes, type GarbageCollectionResponse, type StorageResponse } from '../contract.js';
import type { AdminContext } from '../deps.js';
import { auditChange, bodyOf, optionalBoolean } from '../request-helpers.js';

/**
 * Storage figures, shared by `/api/storage` and the overview (call it), plus garbage collection, which changes them.
 * The collection lives here rather than in its own module because it must forget the cached figures it made stale.
 */
export interface StorageReport {
  (): Promise<StorageResponse>;
  /** Runs garbage collection (audited when something was deleted) and forgets the cached usage. */
  collectGarbage(req: Request, dryRun: boolean): Promise<GarbageCollectionResponse>;
}

/** The blob walk is cached for a few seconds. */
export function createStorageReport(ctx: AdminContext): StorageReport {
  const meter: StorageUsageMeter = createStorageUsage(ctx.dataDir, { ttlMs: 5_000 });
  const report = async (): Promise<StorageResponse> => {
    const [usage, repositories] = await Promise.all([meter.read(), ctx.registry.repositories.listRepositories()]);
    return { bytes: usage.bytes, blobs: usage.files, repositories: repositories.length };
  };
  return Object.assign(report, {
    async collectGarbage(req: Request, dryRun: boolean): Promise<GarbageCollectionResponse> {
      const result: GarbageCollectionResponse = await ctx.registry.collectGarbage({ dryRun });
      if (!dryRun) meter.invalidate();
      if (!dryRun && (result.blobsDeleted > 0 || result.layerLinksRemoved > 0)) {
        const { blobsDeleted, bytesFreed, layerLinksRemoved, graceMs } = result;
        await auditChange(ctx, req, { action: 'storage.gc', detail: { blobsDeleted, bytesFreed, layerLinksRemoved, graceMs } });
      }
      return result;
    },
  });
}

export function storageRoutes(report: StorageReport): Router {
  const router = Router();
  router.get(adminRoutes.storage, async (_req, res) => {
    res.json(await report());
  });
  router.post(adminRoutes.storageGc, async (req: Request, res) => {
    const dryRun = optionalBoolean(bodyOf(req), 'dryRun') ?? false;
    res.json(await report.collectGarbage(req, dryRun));
  });
  return router;
}
