import { parseDigest, type ParsedDigest } from '../../core/digest.js';
import { parseManifest, type Descriptor, type ParsedManifest } from '../../core/manifest.js';
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
  /** Fetches blobs, and links those this upstream already served to Berth instead of downloading them again. */
  fetcher: BlobFetcher;
  log: Logger;
  /** Blobs fetched at once within one job. */
  concurrency?: number;
  /** Aborting stops the job between steps and cancels blob downloads under way (server shutdown). */
  signal?: AbortSignal;
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
 * something incomplete. Blobs this upstream already served to Berth are linked, not fetched: a job
 * that is run again after a crash or restart picks up where it stopped. A tag whose digest (HEAD, which Docker
 * Hub does not count against its rate limit) is already stored complete is not fetched again.
 */
export async function runSyncJob(rule: SyncRuleRecord, deps: SyncJobDeps, report: (progress: JobProgress) => void): Promise<JobProgress> {
  const { client, repositories, fetcher, signal } = deps;
  const progress: JobProgress = { images: { done: 0, total: 0 }, blobs: { done: 0, total: 0 }, bytes: { done: 0, total: 0 }, errors: [] };
  const checkAborted = () => signal?.throwIfAborted();
  const fail = (what: string, error: unknown) => {
    progress.errors.push(`${what}: ${(error as Error).message}`);
    report(progress);
  };

  const plan: PlannedImage[] = [];
  for (const repository of await expandRepositories(rule, client, fail)) {
    checkAborted();
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
  const locals = [...new Set(plan.map((image) => image.local))];

  /**
   * One copy per digest and job, shared by every image and repository that references it: the
   * second user waits for the first download and links the result (counted once in the progress).
   */
  const copies = new Map<string, Promise<void>>();
  const pool = createPool(deps.concurrency ?? 4);

  /**
   * Whether the blob is linked in one of this job's repositories (stored by an earlier, interrupted run of the
   * rule from this upstream), or this upstream served it to Berth before: then it is linked, not downloaded.
   */
  async function linkStored(local: string, digest: ParsedDigest): Promise<boolean> {
    if (await fetcher.linkIfKnown(local, digest, client.name)) return true;
    for (const other of locals) {
      if (other !== local && (await repositories.blobSize(other, digest)) !== undefined) {
        if (await repositories.linkBlob(local, digest)) return true;
      }
    }
    return false;
  }

  function copyBlob(image: PlannedImage, descriptor: Descriptor): Promise<void> {
    const digest = parseDigest(descriptor.digest);
    let copy = copies.get(digest.digest);
    if (!copy) {
      progress.blobs.total += 1;
      progress.bytes.total += descriptor.size;
      report(progress);
      copy = pool(async () => {
        checkAborted();
        if (!(await linkStored(image.local, digest))) {
          // Every blob a sync copies is listed by a manifest from this upstream: it may share a running fetch.
          const source = { upstream: client.name, client, remote: image.repository, listed: true, signal };
          await fetcher.fetch(image.local, digest, source).done;
        }
        progress.blobs.done += 1;
        progress.bytes.done += descriptor.size;
        report(progress);
      });
      copies.set(digest.digest, copy);
      // A failed copy is reported by the image that awaits it; later images try again.
      copy.catch(() => copies.delete(digest.digest));
    }
    return copy.then(async () => {
      // Every repository of the job whose manifest lists the blob gets its link.
      if (!(await linkStored(image.local, digest))) throw new Error(`blob ${digest.digest} is no longer stored`);
    });
  }

  async function copyBlobs(image: PlannedImage, descriptors: readonly Descriptor[]): Promise<void> {
    // allSettled: every started download finishes (or fails) before the image is reported.
    const results = await Promise.allSettled(descriptors.map((descriptor) => copyBlob(image, descriptor)));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Whether the local tag already points at `digest` with everything the rule wants below it. */
  async function upToDate(image: PlannedImage, digest: string): Promise<boolean> {
    const local = await repositories.getManifest(image.local, image.tag);
    if (!local || local.digest !== digest) return false;
    const parsed = parseManifest(local.bytes, local.mediaType);
    if (!parsed.isIndex) return true;
    // The platforms of the rule may have changed since the index was stored.
    for (const child of wantedChildren(parsed, rule.platforms)) {
      if (!(await repositories.getManifest(image.local, child.digest))) return false;
    }
    return true;
  }

  async function copyImage(image: PlannedImage): Promise<void> {
    const head = await client.headManifest(image.repository, image.tag);
    if (!head) throw new Error('the upstream does not have this tag (any more)');
    if (await upToDate(image, head.digest)) return;
    const top = await client.getManifest(image.repository, image.tag);
    const parsed = parseManifest(top.bytes, top.mediaType);
    if (parsed.isIndex) {
      const wanted = wantedChildren(parsed, rule.platforms);
      if (wanted.length === 0) {
        const offered = parsed.manifests.map((child) => platformName(child)).join(', ');
        throw new Error(`no image for ${rule.platforms.join(' or ')} in this index (it has: ${offered || 'no platforms'})`);
      }
      for (const child of wanted) {
        checkAborted();
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
    checkAborted();
    try {
      await copyImage(image);
    } catch (error) {
      // A shutdown is not a failure of the image: the job stops and is resumed at the next start.
      if (signal?.aborted) throw signal.reason;
      fail(`${image.repository}:${image.tag}`, error);
    }
    progress.images.done += 1;
    report(progress);
  }
  return progress;
}

/** Exact names as given; `prefix/*` through the upstream's catalog (refused by registries without one). */
async function expandRepositories(rule: SyncRuleRecord, client: UpstreamClient, fail: (what: string, error: unknown) => void): Promise<string[]> {
  const names = new Set<string>();
  let catalog: Promise<string[]> | undefined;
  for (const entry of rule.repositories) {
    if (!entry.endsWith('/*')) {
      names.add(entry);
      continue;
    }
    const prefix = entry.slice(0, -1);
    try {
      catalog ??= client.listRepositories();
      for (const name of await catalog) if (name.startsWith(prefix)) names.add(name);
    } catch (error) {
      fail(`${entry}: listing the upstream's catalog`, error);
    }
  }
  return [...names].sort();
}

function wantedChildren(index: ParsedManifest, platforms: readonly string[]): Descriptor[] {
  return index.manifests.filter((child) => platformWanted(child, platforms));
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

function platformName(child: Descriptor): string {
  const p = child.platform;
  return p ? [p.os, p.architecture, p.variant].filter(Boolean).join('/') : 'unknown';
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
