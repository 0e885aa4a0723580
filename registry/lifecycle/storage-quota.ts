import { formatBytes } from '../core/byte-size.js';
import { RegistryError } from '../core/errors.js';
import { namespaceOf } from '../core/names.js';
import type { RegistryEvents } from '../events.js';
import type { StorageAllowance } from '../http/content-policy.js';
import type { LifecyclePolicyRecord } from '../state/index.js';
import { recordBlobSizes } from '../storage/blob-size-backfill.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RepositoryIndex } from '../storage/repository-index.js';
import { namespacePolicy } from './policies.js';

/**
 * Storage quotas: the unique bytes a namespace's repositories link (layers, configs, manifests; a blob shared by two
 * of its repositories counted once), from one indexed query over the metadata index, so a push pays one query per
 * check. Sizes the index lacks (links a rebuild found) are read from the blob store once and recorded.
 */
export interface StorageQuota {
  /** Unique bytes the namespace references now. */
  usage(namespace: string): Promise<number>;
  /** What the namespace of `repository` may still store, or undefined when it has no storage quota. */
  allowance(repository: string): Promise<StorageAllowance | undefined>;
}

/** How long the push path reuses a namespace's usage; a write through this registry drops it at once. */
export const usageCacheMs = 2_000;

export function createStorageQuota(deps: {
  policies: () => readonly LifecyclePolicyRecord[];
  index: RepositoryIndex;
  blobs: BlobStore;
  /**
   * For the long-lived checks of a server: allowances reuse a namespace's usage for up to usageCacheMs (the query
   * costs O(links in the namespace): about 40 ms for 10,000 links, and a push asks it for every request), dropped
   * when this registry links or deletes anything in the namespace. Writers elsewhere (the CLI, other nodes) are seen
   * within usageCacheMs. Without it every allowance asks the index.
   */
  cacheWith?: RegistryEvents;
}): StorageQuota {
  const { index, blobs } = deps;
  const cached = new Map<string, { at: number; bytes: number }>();
  if (deps.cacheWith) {
    const drop = ({ repository }: { repository: string }) => cached.delete(namespaceOf(repository));
    for (const event of ['blob.pushed', 'blob.mounted', 'blob.deleted', 'manifest.pushed', 'manifest.deleted', 'tag.deleted'] as const) deps.cacheWith.on(event, drop);
  }

  async function cachedUsage(namespace: string): Promise<number> {
    if (!deps.cacheWith) return usage(namespace);
    const hit = cached.get(namespace);
    if (hit && Date.now() - hit.at < usageCacheMs) return hit.bytes;
    const bytes = await usage(namespace);
    cached.set(namespace, { at: Date.now(), bytes });
    return bytes;
  }

  async function usage(namespace: string): Promise<number> {
    let { bytes, unsized } = await index.namespaceUsage(namespace);
    // Each pass records sizes, so the next one lists others; a link to a blob that is not stored counts nothing.
    for (let pass = 0; unsized.length > 0 && pass < 100; pass += 1) {
      if ((await recordBlobSizes(index, blobs, unsized)) === 0) break;
      ({ bytes, unsized } = await index.namespaceUsage(namespace));
    }
    return bytes;
  }

  return {
    usage,
    async allowance(repository) {
      const namespace = namespaceOf(repository);
      const limit = namespacePolicy({ policies: [...deps.policies()] }, namespace)?.quota?.storageBytes;
      if (limit === undefined) return undefined;
      const used = await cachedUsage(namespace);
      return {
        namespace,
        remaining: Math.max(limit - used, 0),
        holds: (digest) => index.namespaceLinks(namespace, digest),
        refuse: (needs, what) => storageQuotaDenied(namespace, used, limit, needs, what),
      };
    },
  };
}

/** `namespace "team" is over its storage quota: 9.8 MiB used of 10 MiB, this upload needs 2.0 MiB` (DENIED, 403). */
export function storageQuotaDenied(namespace: string, used: number, limit: number, needs?: number, what = 'this upload'): RegistryError {
  const need = needs === undefined ? '' : `, ${what} needs ${formatBytes(needs)}`;
  return new RegistryError(
    'DENIED',
    `namespace "${namespace}" is over its storage quota: ${formatBytes(used)} used of ${formatBytes(limit)}${need}; delete images (then "berth gc") or raise the quota ("berth quota set ${namespace} --max-storage SIZE")`,
    { detail: { namespace, quota: 'storage', usedBytes: used, limitBytes: limit, ...(needs === undefined ? {} : { needsBytes: needs }) } },
  );
}
