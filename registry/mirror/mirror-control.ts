import type { MirrorControl, MirrorEvent } from '../admin/contract.js';
import { AdminError } from '../admin/admin-error.js';
import { jobDetailView, jobView } from '../admin/views.js';
import { SyncJobStateError, type SyncScheduler } from './sync/sync-scheduler.js';
import type { UpstreamPool } from './upstream-pool.js';
import { testUpstream } from './upstream-test.js';

/** The mirror as the admin API sees it: connection tests, run-now, health, and a live feed. */
export function createMirrorControl(pool: UpstreamPool, syncScheduler: () => SyncScheduler): MirrorControl {
  return {
    async testUpstream(name) {
      const upstream = pool.get(name);
      if (!upstream) return { ok: false, message: `no upstream named "${name}"` };
      return testUpstream(upstream.record, upstream.client);
    },

    async runSyncRule(name, requestedBy) {
      return { jobId: (await syncScheduler().runNow(name, requestedBy)).id };
    },

    activeJobs() {
      return syncScheduler().active().map(jobView);
    },

    job(id) {
      const record = syncScheduler().job(id);
      return record ? jobDetailView(record) : undefined;
    },

    async cancelJob(id, requestedBy) {
      return jobView(await syncScheduler().cancel(id, requestedBy).catch(asAdminError));
    },

    async retryJob(id, requestedBy) {
      return { jobId: (await syncScheduler().retry(id, requestedBy).catch(asAdminError)).id };
    },

    upstreamHealth() {
      return Object.fromEntries(
        pool.all().map((upstream) => {
          const state = upstream.client.health.state();
          return [upstream.record.name, { online: state.online, ...(state.lastError ? { lastError: state.lastError } : {}) }];
        }),
      );
    },

    subscribe(listener: (event: MirrorEvent) => void) {
      const progress = (job: Parameters<typeof jobView>[0]) => listener({ type: 'job.progress', job: jobView(job) });
      const finished = (job: Parameters<typeof jobView>[0]) => listener({ type: 'job.finished', job: jobView(job) });
      const health = (name: string, online: boolean, lastError?: string) => listener({ type: 'upstream.health', upstream: name, online, lastError });
      const sync = syncScheduler();
      sync.events.on('job.progress', progress);
      sync.events.on('job.finished', finished);
      const unsubscribeHealth = pool.onHealthChange(health);
      return () => {
        sync.events.off('job.progress', progress);
        sync.events.off('job.finished', finished);
        unsubscribeHealth();
      };
    },
  };
}

/** The scheduler's refusals in the admin API's terms (404 unknown job, 409 wrong state). */
function asAdminError(error: unknown): never {
  if (error instanceof SyncJobStateError) {
    throw error.reason === 'not-found'
      ? new AdminError('BERTH_JOB_NOT_FOUND', 404, error.message)
      : new AdminError('BERTH_JOB_STATE', 409, error.message);
  }
  throw error;
}
