import { Router, type Request } from 'express';
import { createStorageUsage, type StorageUsageMeter } from '../../metrics/storage-usage.js';
import { createFilesystemDriver } from '../../storage/filesystem-driver.js';
import { adminRoutes, type GarbageCollectionResponse, type StorageResponse } from '../contract.js';
import { AdminError } from '../admin-error.js';
import type { AdminContext } from '../deps.js';
import { auditChange, bodyOf, optionalBoolean } from '../request-helpers.js';

/**
 * Storage figures, shared by `/api/storage` and the overview (call it), plus garbage collection, which changes them.
 * The collection lives here rather than in its own module because it must forget the cached figures it made stale.
 */
export interface StorageReport {
  (): Promise<StorageResponse>;
  /** Runs garbage collection (audited when something was deleted) and forgets the cached usage. */
  collectGarbage(req: Request, options: { dryRun: boolean; skipGracePeriod: boolean }): Promise<GarbageCollectionResponse>;
}

/** The page shows figures at most this old (the shared meter's walk is reused for that long). */
const pageMaxAgeMs = 5_000;

/** The figures describe the instance's storage: the data directory, or the bucket with S3 (ctx.storageUsage). */
export function createStorageReport(ctx: AdminContext): StorageReport {
  const meter: StorageUsageMeter = ctx.storageUsage ?? createStorageUsage(createFilesystemDriver(ctx.dataDir));
  const report = async (): Promise<StorageResponse> => {
    const [usage, repositories] = await Promise.all([meter.read({ maxAgeMs: pageMaxAgeMs }), ctx.registry.repositories.listRepositories()]);
    return { bytes: usage.bytes, blobs: usage.files, repositories: repositories.length };
  };
  return Object.assign(report, {
    async collectGarbage(req: Request, { dryRun, skipGracePeriod }: { dryRun: boolean; skipGracePeriod: boolean }): Promise<GarbageCollectionResponse> {
      const result: GarbageCollectionResponse = skipGracePeriod ? await reclaimNow(ctx, dryRun) : await ctx.registry.collectGarbage({ dryRun });
      if (!dryRun) meter.invalidate();
      if (!dryRun && (result.blobsDeleted > 0 || result.layerLinksRemoved > 0 || result.trashEntriesExpired > 0)) {
        const { blobsDeleted, bytesFreed, layerLinksRemoved, graceMs, trashEntriesExpired } = result;
        await auditChange(ctx, req, { action: 'storage.gc', detail: { blobsDeleted, bytesFreed, layerLinksRemoved, graceMs, trashEntriesExpired, ...(skipGracePeriod ? { skipGracePeriod } : {}) } });
      }
      return result;
    },
  });
}

/** "Reclaim now", refused while something is still bringing in blobs whose manifest has not arrived. */
async function reclaimNow(ctx: AdminContext, dryRun: boolean): Promise<GarbageCollectionResponse> {
  const jobs = ctx.mirror?.activeJobs?.() ?? [];
  if (jobs.length > 0) {
    const rules = [...new Set(jobs.map((job) => job.rule))].join(', ');
    throw new AdminError('BERTH_GC_PUSH_IN_PROGRESS', 409, `the sync rule ${rules} is copying images right now`, 'free the space once it finished, or wait for the grace period');
  }
  const answer = await ctx.registry.reclaimNow({ dryRun });
  if ('refused' in answer) {
    const names = answer.refused.map((entry) => entry.repository);
    const shown = names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
    throw new AdminError(
      'BERTH_GC_PUSH_IN_PROGRESS',
      409,
      `a push to ${shown} is still going on: it has sent layers but not yet the image that uses them`,
      'free the space once the push finished; an abandoned push stops counting after the grace period',
    );
  }
  return answer.result;
}

export function storageRoutes(report: StorageReport): Router {
  const router = Router();
  router.get(adminRoutes.storage, async (_req, res) => {
    res.json(await report());
  });
  router.post(adminRoutes.storageGc, async (req: Request, res) => {
    const body = bodyOf(req);
    const dryRun = optionalBoolean(body, 'dryRun') ?? false;
    const skipGracePeriod = optionalBoolean(body, 'skipGracePeriod') ?? false;
    res.json(await report.collectGarbage(req, { dryRun, skipGracePeriod }));
  });
  return router;
}
