import { parseDigest } from '../../core/digest.js';
import { parseManifest, type Descriptor } from '../../core/manifest.js';
import { isRepositoryName } from '../../core/names.js';
import type { Logger } from '../../log.js';
import type { RepositoryStore } from '../../storage/repository-store.js';
import type { JobRecord, SyncRuleRecord } from '../../state/index.js';
import type { BlobFetcher } from '../blob-fetches.js';
import type { UpstreamClient } from '../upstream-client.js';
import { selectTags } from './tag-filter.js';

export interface SyncJobDeps {
  client: UpstreamClient;
  repositories: RepositoryStore;
  fetcher: BlobFetcher;
  log: Logger;
  /** Blobs fetched at once within one job. */
  concurrency?: number;
}

export type JobProgress = Pick<JobRecord, 'images' | 'blobs' | 'bytes' | 'errors'>;

interface PlannedImage {
  repository: string;
  local: string;
  tag: string;
}

/**
 * One run of a sync rule: resolve the repositories and tags upstream, then for each tag fetch the
 * manifest (for an index, only the children of the wanted platforms), every blob once across the
 * whole job, and store children before parents and the tag last, so a tag never points at
 * something incomplete. Blobs already in the store are linked, not fetched: a job that is run
 * again after a crash or restart picks up where it stopped.
 */
export async function runSyncJob(rule: SyncRuleRecord, deps: SyncJobDeps, report: (progress: JobProgress) => void): Promise<JobProgress> {
  const { client, repositories, fetcher } = deps;
  const progress: JobProgress = { images: { done: 0, total: 0 }, blobs: { done: 0, total: 0 }, bytes: { done: 0, total: 0 }, errors: [] };
  const seenBlobs = new Set<string>();
  const fail = (what: string, error: unknown) => {
    progress.errors.push(`${what}: ${(error as Error).message}`);
    report(progress);
  };

  const plan: PlannedImage[] = [];
  for (const repository of await expandRepositories(rule, client)) {
    const local = `${rule.into}/${repository}`;
    if (!isRepositoryName(local)) {
      fail(repository, new Error(`local name ${local} is not a valid repository name`));
      continue;
    }
    try {
      for (const tag of selectTags(await client.listTags(repository), rule.tags)) plan.push({ repository, local, tag });
    } catch (error) {
      fail(`${repository}: listing tags`, error);
    }
  }
  progress.images.total = plan.length;
  report(progress);

  const pool = createPool(deps.concurrency ?? 4);
  async function copyBlobs(image: PlannedImage, descriptors: Descriptor[]): Promise<void> {
    await Promise.all(
      descriptors.map((descriptor) =>
        pool(async () => {
          const digest = parseDigest(descriptor.digest);
          if (!seenBlobs.has(digest.digest)) {
            seenBlobs.add(digest.digest);
            progress.blobs.total += 1;
            progress.bytes.total += descriptor.size;
            report(progress);
          }
          if ((await repositories.blobSize(image.local, digest)) === undefined) {
            await fetcher.fetch(image.local, digest, () => client.getBlob(image.repository, digest.digest, { verify: false })).done;
            await repositories.linkBlob(image.local, digest);
          }
          progress.blobs.done = Math.min(progress.blobs.done + 1, progress.blobs.total);
          progress.bytes.done = Math.min(progress.bytes.done + descriptor.size, progress.bytes.total);
          report(progress);
        }),
      ),
    );
  }

  async function copyImage(image: PlannedImage): Promise<void> {
    const top = await client.getManifest(image.repository, image.tag);
    const parsed = parseManifest(top.bytes, top.mediaType);
    if (parsed.isIndex) {
      const wanted = parsed.manifests.filter((child) => platformWanted(child, rule.platforms));
      for (const child of wanted) {
        const fetched = await client.getManifest(image.repository, child.digest);
        await copyBlobs(image, parseManifest(fetched.bytes, fetched.mediaType).blobs);
        await repositories.putManifest(image.local, child.digest, fetched.bytes, fetched.mediaType);
      }
      // The index is stored byte-exact even when only some platforms were taken.
      await repositories.putManifest(image.local, image.tag, top.bytes, top.mediaType, { requireReferences: false });
    } else {
      await copyBlobs(image, parsed.blobs);
      await repositories.putManifest(image.local, image.tag, top.bytes, top.mediaType);
    }
  }

  for (const image of plan) {
    try {
      await copyImage(image);
    } catch (error) {
      fail(`${image.repository}:${image.tag}`, error);
    }
    progress.images.done += 1;
    report(progress);
  }
  return progress;
}

/** Exact names as given; `prefix/*` through the upstream's catalog (refused by registries without one). */
async function expandRepositories(rule: SyncRuleRecord, client: UpstreamClient): Promise<string[]> {
  const names = new Set<string>();
  for (const entry of rule.repositories) {
    if (!entry.endsWith('/*')) {
      names.add(entry);
      continue;
    }
    const prefix = entry.slice(0, -1);
    for (const name of await client.listRepositories()) if (name.startsWith(prefix)) names.add(name);
  }
  return [...names].sort();
}

function platformWanted(child: Descriptor, platforms: readonly string[]): boolean {
  if (platforms.length === 0) return true;
  const p = child.platform;
  if (!p) return false;
  return platforms.some((wanted) => {
    const [os, architecture, variant] = wanted.split('/');
    return p.os === os && p.architecture === architecture && (variant === undefined || p.variant === variant);
  });
}

/** At most `limit` tasks at once. */
function createPool(limit: number) {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active += 1;
    try {
      return await task();
    } finally {
      active -= 1;
      waiting.shift()?.();
    }
  };
}
