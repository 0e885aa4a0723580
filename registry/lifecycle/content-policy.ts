import { formatBytes } from '../core/byte-size.js';
import { RegistryError } from '../core/errors.js';
import { namespaceOf } from '../core/names.js';
import type { RegistryEvents } from '../events.js';
import type { ContentPolicy } from '../http/content-policy.js';
import type { State } from '../state/index.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RepositoryIndex } from '../storage/repository-index.js';
import type { RepositoryStore } from '../storage/repository-store.js';
import { immutablePatternOf, immutablePatternsFor, immutableTagDenied } from './immutable-tags.js';
import { namespacePolicy } from './policies.js';
import type { PullTraffic } from './pull-traffic.js';
import { createStorageQuota, type StorageQuota } from './storage-quota.js';

/**
 * The lifecycle rules the distribution API applies to clients (http/content-policy.ts), read from the state's
 * policies at every request (a change applies at once): immutable tags, the storage quota, the monthly pull
 * traffic. Deletes from anywhere ask beforeDelete through the trash (registry/index.ts wires it as the trash's guard).
 */
export type LifecycleChecks = ContentPolicy;

export function createLifecycleChecks(deps: {
  state: () => Pick<State, 'policies' | 'upstreams'>;
  repositories: RepositoryStore;
  storage: StorageQuota;
  traffic: PullTraffic;
}): LifecycleChecks {
  const { repositories } = deps;
  /** Mirror namespaces (an upstream's name) follow their upstream: their tags move with it. */
  const isMirror = (repository: string) => deps.state().upstreams.some((upstream) => upstream.name === namespaceOf(repository));
  const patternsOf = (repository: string) => (isMirror(repository) ? [] : immutablePatternsFor(deps.state(), repository));
  const patternOf = (repository: string, tag: string) => immutablePatternOf({ immutableTags: patternsOf(repository) }, tag);

  /** The pull that reaches the monthly quota is served whole; from then on pulls are refused until the month ends. */
  async function assertPullRoom(repository: string): Promise<void> {
    const namespace = namespaceOf(repository);
    const limit = namespacePolicy(deps.state(), namespace)?.quota?.pullBytesPerMonth;
    if (limit === undefined) return;
    const used = await deps.traffic.monthBytes(namespace);
    if (used >= limit) throw pullQuotaDenied(namespace, used, limit);
  }

  return {
    async beforeTagPut(repository, tag, digest) {
      const pattern = patternOf(repository, tag);
      if (!pattern) return;
      const current = await repositories.getManifest(repository, tag);
      if (current && current.digest !== digest) throw immutableTagDenied(repository, tag, pattern, 'move', current.digest);
    },
    async beforeDelete(repository, tags) {
      for (const tag of tags) {
        const pattern = patternOf(repository, tag);
        if (pattern) throw immutableTagDenied(repository, tag, pattern, 'delete');
      }
    },
    storageAllowance: (repository) => deps.storage.allowance(repository),
    beforeManifestPull: (repository) => assertPullRoom(repository),
    beforeBlobPull: (repository) => assertPullRoom(repository),
    blobPulled(repository, bytes) {
      deps.traffic.served(namespaceOf(repository), bytes);
    },
  };
}

/**
 * DENIED (403), not TOOMANYREQUESTS (429): the condition lasts until the month ends or the quota is raised, and
 * clients treat 429 as "retry after a pause" (containerd, docker and containers/image back off and try again),
 * which would turn a clear refusal into a slow hang; on 403 they stop at once and show the message.
 */
export function pullQuotaDenied(namespace: string, used: number, limit: number): RegistryError {
  return new RegistryError(
    'DENIED',
    `namespace "${namespace}" is over its monthly pull quota: ${formatBytes(used)} served of ${formatBytes(limit)} this month (UTC); it resets on the 1st, or raise it ("berth quota set ${namespace} --pulls-per-month SIZE")`,
    { detail: { namespace, quota: 'pullsPerMonth', usedBytes: used, limitBytes: limit } },
  );
}

/**
 * The checks over a registry's stores and the state: what Berth's server, its admin API and the CLI all use. The
 * server's own long-lived instance passes `cacheWith` (its registry's events: see createStorageQuota); a per-request
 * or per-command instance must not, or each would add listeners.
 */
export function lifecycleChecksOf(
  stores: { index: RepositoryIndex; blobs: BlobStore; repositories: RepositoryStore; traffic: PullTraffic },
  state: () => Pick<State, 'policies' | 'upstreams'>,
  options: { cacheWith?: RegistryEvents } = {},
): { checks: LifecycleChecks; storage: StorageQuota } {
  const storage = createStorageQuota({ policies: () => state().policies, index: stores.index, blobs: stores.blobs, cacheWith: options.cacheWith });
  return { checks: createLifecycleChecks({ state, repositories: stores.repositories, storage, traffic: stores.traffic }), storage };
}
