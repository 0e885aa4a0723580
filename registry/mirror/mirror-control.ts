import type { MirrorControl, MirrorEvent } from '../admin/contract.js';
import { jobView } from '../admin/views.js';
import type { SyncScheduler } from './sync/sync-scheduler.js';
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
