import { randomBytes } from 'node:crypto';
import { parseDigest } from '../core/digest.js';
import { parseManifest } from '../core/manifest.js';
import { isTag, namespaceOf } from '../core/names.js';
import type { ContentPolicy } from '../http/content-policy.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RepositoryStore } from '../storage/repository-store.js';
import { defaultTrashDays } from './policies.js';
import { TrashError } from './trash-errors.js';
import type { TrashedManifest, TrashEntry, TrashFilter, TrashStore } from './trash-store.js';

/**
 * The one way content is deleted: a tag, a manifest (with its referrers) or a whole repository goes to the trash,
 * and stays restorable until its entry expires (trashDays of the repository's policy, default 30).
 *
 * For registry clients a delete is what the OCI spec says: the tag or manifest is gone (404) at once. What stays is
 * the entry and the bytes: garbage collection keeps every blob an unexpired entry names (storage/garbage-marks.ts,
 * extra roots), and frees them once the entry expired and was dropped (by the collection itself or `trash empty`).
 *
 * Order, for a kill -9 at any point: the entry is written BEFORE the links go, so a collection running beside a
 * delete always sees either the links or the entry; a restore writes every link (through the very functions a push
 * uses, so the index stays consistent) before the entry goes. A crash leaves, at worst, an entry whose content is
 * still (or already again) visible: restoring it once more is harmless, every step is idempotent.
 *
 * Other lifecycle features (retention, eviction) delete through moveTag/moveManifest too; immutable tags refuse
 * through `guard`, which every move asks first.
 */
export interface Trash {
  /** Deletes a tag (its manifest stays pullable by digest, as the spec says); undefined when there is no such tag. */
  moveTag(repository: string, tag: string, by: DeletedBy): Promise<TrashEntry | undefined>;
  /** Deletes a manifest, every tag on it and its referrers (recursively); undefined when unknown in the repository. */
  moveManifest(repository: string, digest: string, by: DeletedBy): Promise<TrashEntry | undefined>;
  /** Deletes every manifest and tag of the repository as one entry; undefined when the repository is unknown. */
  moveRepository(repository: string, by: DeletedBy): Promise<{ entry: TrashEntry; tags: number; manifests: number } | undefined>;
  list(filter?: TrashFilter): Promise<TrashEntry[]>;
  /** See RestoreOptions; TrashError when refused (nothing is written then). */
  restore(id: string, options?: RestoreOptions): Promise<RestoreResult>;
  /** Drops entries for good (only the expired ones with `expiredOnly`); the next collection frees their space. */
  empty(options?: TrashFilter & { expiredOnly?: boolean }): Promise<TrashEntry[]>;
  /**
   * For garbage collection: drops the expired entries (unless `dryRun`) and returns them, with the manifests the
   * others keep (each followed like a revision of its repository: config, layers, index children).
   */
  collectionRoots(now: Date, dryRun: boolean): Promise<{ expired: TrashEntry[]; roots: Array<{ repository: string; digest: string }> }>;
}

export interface DeletedBy {
  /** Token name, `admin` or `anonymous`. */
  actor: string;
}

export interface RestoreOptions {
  /** Restore the deleted manifest's tag(s) as this one tag instead (tag and manifest entries only). */
  as?: string;
  /** Move tags that now name another manifest back to the restored one. */
  force?: boolean;
  now?: Date;
}

export interface RestoreResult {
  entry: TrashEntry;
  /** Tags pointing at restored manifests again. */
  tags: string[];
  /** Manifests that had to be stored again (the rest were still there). */
  manifestsRestored: number;
}

/** Asked before any move; throws to refuse it (immutable tags). Nothing has changed when it throws. */
export type DeleteGuard = (change: { repository: string; kind: TrashEntry['deleted']['kind']; tags: string[]; digests: string[] }) => Promise<void>;

export interface TrashOptions {
  repositories: RepositoryStore;
  blobs: BlobStore;
  store: TrashStore;
  /** Days an entry of this repository is kept (its lifecycle policy). Default: 30. */
  trashDays?: (repository: string) => number;
  guard?: DeleteGuard;
  /**
   * What a push obeys: a restore that would put back a tag an immutable pattern now holds elsewhere is refused, and
   * so is one that would take the namespace past its storage quota.
   */
  policy?: Pick<ContentPolicy, 'beforeTagPut' | 'storageAllowance'>;
  now?: () => Date;
}

const dayMs = 86_400_000;

export function createTrash(options: TrashOptions): Trash {
  const { repositories, blobs, store } = options;
  const now = options.now ?? (() => new Date());
  const trashDays = options.trashDays ?? (() => defaultTrashDays);

  function newEntry(repository: string, deleted: TrashEntry['deleted'], manifests: TrashedManifest[], by: DeletedBy): TrashEntry {
    const at = now();
    const days = Math.max(0, trashDays(repository));
    return {
      id: randomBytes(8).toString('hex'),
      repository,
      namespace: namespaceOf(repository),
      deleted,
      manifests,
      deletedAt: at.toISOString(),
      expiresAt: new Date(at.getTime() + days * dayMs).toISOString(),
      deletedBy: by.actor,
    };
  }

  /** What an entry records of a stored manifest (its subject read from its bytes); undefined when not stored. */
  async function describe(repository: string, digest: string): Promise<TrashedManifest | undefined> {
    const manifest = await repositories.getManifest(repository, digest);
    if (!manifest) return undefined;
    const tags = await repositories.tagsOf(repository, parseDigest(digest));
    const subject = parseManifest(manifest.bytes).subject?.digest;
    return { digest, mediaType: manifest.mediaType, size: manifest.bytes.length, tags, ...(subject ? { subject } : {}) };
  }

  /** The manifest, then its referrers and theirs (a signature of an SBOM), each once, each with its tags. */
  async function withReferrers(repository: string, root: TrashedManifest): Promise<TrashedManifest[]> {
    const found = [root];
    const seen = new Set([root.digest]);
    for (let i = 0; i < found.length; i++) {
      const subject = found[i] as TrashedManifest;
      for (const referrer of await repositories.referrers(repository, parseDigest(subject.digest))) {
        if (seen.has(referrer.digest)) continue;
        seen.add(referrer.digest);
        const described = await describe(repository, referrer.digest);
        if (described) found.push(described);
      }
    }
    return found;
  }

  const guard = async (entry: TrashEntry) =>
    options.guard?.({
      repository: entry.repository,
      kind: entry.deleted.kind,
      tags: entry.manifests.flatMap((manifest) => manifest.tags),
      digests: entry.deleted.kind === 'tag' ? [] : entry.manifests.map((manifest) => manifest.digest),
    });

  /** Every digest a manifest needs stored to be put back (itself, blobs, children and theirs) that is not. */
  async function missingContent(digest: string, missing: Set<string>, seen = new Set<string>()): Promise<void> {
    if (seen.has(digest)) return;
    seen.add(digest);
    const bytes = await blobs.read(parseDigest(digest));
    if (!bytes) {
      missing.add(digest);
      return;
    }
    const parsed = parseManifest(bytes);
    for (const blob of parsed.blobs) if ((await blobs.size(parseDigest(blob.digest))) === undefined) missing.add(blob.digest);
    for (const child of parsed.manifests) await missingContent(child.digest, missing, seen);
  }

  /** Each digest a manifest's restore links (itself, its blobs, children and theirs) with its stored size. */
  async function contentSizes(digest: string, sizes: Map<string, number>): Promise<void> {
    if (sizes.has(digest)) return;
    const bytes = await blobs.read(parseDigest(digest));
    if (!bytes) return;
    sizes.set(digest, bytes.length);
    const parsed = parseManifest(bytes);
    for (const blob of parsed.blobs) sizes.set(blob.digest, (await blobs.size(parseDigest(blob.digest))) ?? 0);
    for (const child of parsed.manifests) await contentSizes(child.digest, sizes);
  }

  /**
   * A restore links content into the namespace again, as a push does, so it passes the same storage quota: what the
   * namespace no longer links counts (a deleted image's layers usually still count while it is in the trash, its
   * manifests do not), and a restore that would pass the quota is refused with the push's DENIED answer.
   */
  async function assertQuotaRoom(repository: string, wanted: readonly TrashedManifest[]): Promise<void> {
    const allowance = await options.policy?.storageAllowance(repository);
    if (!allowance) return;
    const sizes = new Map<string, number>();
    for (const manifest of wanted) await contentSizes(manifest.digest, sizes);
    let adds = 0;
    for (const [digest, size] of sizes) if (!(await allowance.holds(digest))) adds += size;
    if (adds > allowance.remaining) throw allowance.refuse(adds, 'this restore');
  }

  /**
   * Stores the manifest as a revision of the repository again, with its children first and its blobs linked, the
   * way a push does; `tag` also points that tag at it. Returns whether a revision had to be written.
   */
  async function putBack(repository: string, digest: string, tag?: string): Promise<boolean> {
    const present = await repositories.getManifest(repository, digest);
    if (present && tag === undefined) return false;
    const bytes = present?.bytes ?? (await blobs.read(parseDigest(digest)));
    if (!bytes) throw contentGone(repository, [digest]);
    const parsed = parseManifest(bytes);
    if (!present) {
      for (const child of parsed.manifests) await putBack(repository, child.digest);
      const gone: string[] = [];
      for (const blob of parsed.blobs) if (!(await repositories.linkBlob(repository, parseDigest(blob.digest)))) gone.push(blob.digest);
      if (gone.length > 0) throw contentGone(repository, gone);
    }
    await repositories.putManifest(repository, tag ?? digest, bytes, parsed.mediaType);
    return !present;
  }

  return {
    async moveTag(repository, tag, by) {
      const manifest = await repositories.getManifest(repository, tag);
      if (!manifest) return undefined;
      const entry = newEntry(repository, { kind: 'tag', tag }, [{ digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length, tags: [tag] }], by);
      await guard(entry);
      await store.add(entry);
      if (await repositories.deleteTag(repository, tag)) return entry;
      await store.remove(entry.id);
      return undefined;
    },

    async moveManifest(repository, digest, by) {
      const described = await describe(repository, digest);
      if (!described) return undefined;
      // The deleted manifest is the entry's root even when it is itself a referrer (its subject stays).
      const { subject: _subject, ...root } = described;
      const entry = newEntry(repository, { kind: 'manifest', digest }, await withReferrers(repository, root), by);
      await guard(entry);
      await store.add(entry);
      // The manifest first: when a concurrent delete took it already, that delete's entry holds it and this one goes.
      if (!(await repositories.deleteManifest(repository, parseDigest(digest)))) {
        await store.remove(entry.id);
        return undefined;
      }
      for (const referrer of entry.manifests.slice(1)) await repositories.deleteManifest(repository, parseDigest(referrer.digest));
      return entry;
    },

    async moveRepository(repository, by) {
      const digests = await repositories.listManifests(repository);
      if (!digests) return undefined;
      const manifests: TrashedManifest[] = [];
      for (const digest of digests) {
        const described = await describe(repository, digest);
        if (described) manifests.push(described);
      }
      // Subjects before their referrers, as in a manifest entry.
      manifests.sort((a, b) => Number(a.subject !== undefined) - Number(b.subject !== undefined));
      const entry = newEntry(repository, { kind: 'repository' }, manifests, by);
      await guard(entry);
      await store.add(entry);
      const deleted = await repositories.deleteRepository(repository);
      if (!deleted) {
        await store.remove(entry.id);
        return undefined;
      }
      return { entry, ...deleted };
    },

    list: (filter) => store.list(filter),

    async restore(id, restoreOptions = {}) {
      const entry = await store.get(id);
      if (!entry) throw new TrashError('BERTH_TRASH_ENTRY_NOT_FOUND', `no trash entry "${id.slice(0, 40)}"`, 'see "berth trash list"');
      const at = restoreOptions.now ?? now();
      if (Date.parse(entry.expiresAt) <= at.getTime()) {
        throw new TrashError('BERTH_TRASH_EXPIRED', `trash entry ${id} expired at ${entry.expiresAt}: it is deleted for good`);
      }
      const wanted = entry.manifests.map((manifest) => ({ ...manifest }));
      if (restoreOptions.as !== undefined) {
        if (!isTag(restoreOptions.as)) throw new TrashError('BERTH_TRASH_INVALID', `"${restoreOptions.as.slice(0, 130)}" is not a valid tag`);
        if (entry.deleted.kind === 'repository') {
          throw new TrashError('BERTH_TRASH_INVALID', 'a deleted repository is restored with its own tags: restore it without a new tag name');
        }
        (wanted[0] as TrashedManifest).tags = [restoreOptions.as];
      }
      // Everything is checked before anything is written: a refused restore changes nothing.
      const missing = new Set<string>();
      for (const manifest of wanted) await missingContent(manifest.digest, missing);
      if (missing.size > 0) throw contentGone(entry.repository, [...missing]);
      const taken: string[] = [];
      const inPlace = new Set<string>();
      for (const manifest of wanted) {
        for (const tag of manifest.tags) {
          const current = await repositories.getManifest(entry.repository, tag);
          if (current && current.digest !== manifest.digest) taken.push(tag);
          if (current?.digest === manifest.digest) inPlace.add(tag);
        }
      }
      if (taken.length > 0 && !restoreOptions.force) {
        throw new TrashError(
          'BERTH_TRASH_TAG_TAKEN',
          `${entry.repository}:${taken.join(', ')} now ${taken.length === 1 ? 'names' : 'name'} another manifest`,
          'restore with force to move the tag back, or restore it as another tag',
        );
      }
      // Forced or not, a tag moves back only where a push could move it (an immutable tag pushed again stays).
      for (const manifest of wanted) {
        for (const tag of manifest.tags) if (!inPlace.has(tag)) await options.policy?.beforeTagPut(entry.repository, tag, manifest.digest);
      }
      await assertQuotaRoom(entry.repository, wanted);
      let manifestsRestored = 0;
      const tags: string[] = [];
      for (const manifest of wanted) {
        if (await putBack(entry.repository, manifest.digest)) manifestsRestored += 1;
        for (const tag of manifest.tags) {
          // A tag pushed again to the same manifest meanwhile keeps its push time.
          if (!inPlace.has(tag)) await putBack(entry.repository, manifest.digest, tag);
          tags.push(tag);
        }
      }
      await store.remove(entry.id);
      return { entry, tags, manifestsRestored };
    },

    async empty(emptyOptions = {}) {
      const { expiredOnly, ...filter } = emptyOptions;
      return store.removeWhere(expiredOnly ? { ...filter, expiredBy: now() } : filter);
    },

    collectionRoots: (at, dryRun) => trashCollectionRoots(store, at, dryRun),
  };
}

/** See Trash.collectionRoots; over the store alone, for `berth gc`, which builds no registry. */
export async function trashCollectionRoots(store: TrashStore, at: Date, dryRun: boolean): Promise<{ expired: TrashEntry[]; roots: Array<{ repository: string; digest: string }> }> {
  const expiredBy = (entry: TrashEntry) => Date.parse(entry.expiresAt) <= at.getTime();
  const expired = dryRun ? (await store.list()).filter(expiredBy) : await store.removeWhere({ expiredBy: at });
  const roots: Array<{ repository: string; digest: string }> = [];
  // An entry that expired after the removal above is still kept this once: never free what was restorable a moment ago.
  for (const entry of await store.list()) {
    if (dryRun && expiredBy(entry)) continue;
    for (const manifest of entry.manifests) roots.push({ repository: entry.repository, digest: manifest.digest });
  }
  return { expired, roots };
}

function contentGone(repository: string, digests: string[]): TrashError {
  const shown = digests.slice(0, 3).join(', ');
  return new TrashError(
    'BERTH_TRASH_CONTENT_GONE',
    `${digests.length} blob(s) of this entry are no longer stored in ${repository} (${shown}${digests.length > 3 ? ', …' : ''})`,
    'the content was freed; push the image again',
  );
}
