import { digestOf, isDigest, parseDigest, type ParsedDigest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import { parseManifest, type Descriptor } from '../core/manifest.js';
import { recordBlobSizes } from './blob-size-backfill.js';
import type { BlobStore } from './blob-store.js';
import { deleteLinkFile, isPathNotFound, pathExists, type StorageDriver } from './driver.js';
import { createManifestCache, type CachedManifest } from './manifest-cache.js';
import { pathFor, type RepositoryFolder } from './paths.js';
import { readTag, referencesOf } from './repository-index-builder.js';
import type { PageRequest, RepositoryIndex, RepositoryUsage, TagEntry } from './repository-index.js';
import { listedRepositories } from './repository-walk.js';

export type StoredManifest = CachedManifest;

/**
 * What a repository holds: links to blobs, manifest revisions, tags and the referrers index.
 * Writes happen in an order that keeps every reader safe across a kill -9 at any point:
 * manifest bytes, then the revision link, then the referrer link, then the tag. A tag therefore
 * never points at a manifest that is not stored. Each write also updates the metadata index (storage/repository-index.ts)
 * in its crash-safe order around the file; listings read the index once it is built, the link files until then.
 */
export interface RepositoryStore {
  /** Size of a blob visible in the repository, or undefined. */
  blobSize(repository: string, digest: ParsedDigest): Promise<number | undefined>;
  /**
   * Links a stored blob into the repository. The link is written first and the blob looked for after it, which is
   * what keeps a concurrent garbage collection from deleting it (garbage-collector.ts). Returns false when the blob
   * is not stored (never stored, or collected before the link was written): the caller must not report it stored.
   */
  linkBlob(repository: string, digest: ParsedDigest): Promise<boolean>;
  /** Returns false when the blob was not linked. */
  unlinkBlob(repository: string, digest: ParsedDigest): Promise<boolean>;
  /** A manifest by tag or digest; undefined when unknown in this repository. */
  getManifest(repository: string, reference: string): Promise<StoredManifest | undefined>;
  /**
   * Validates and stores a manifest; `reference` is a tag or the manifest's digest. A mirror stores
   * upstream manifests before their blobs (fetched on demand) with `requireReferences: false`.
   */
  putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    contentType: string | undefined,
    options?: { requireReferences?: boolean },
  ): Promise<PutManifestResult>;
  /**
   * Deletes a manifest revision and every tag pointing at it; false when unknown. For good, without the trash: only
   * lifecycle/trash.ts calls the three deletes here. Every delete a client, a person or a lifecycle rule makes goes
   * through Registry.trash (moveManifest, moveTag, moveRepository), so it can be restored.
   */
  deleteManifest(repository: string, digest: ParsedDigest): Promise<boolean>;
  /** See deleteManifest: for good; use Registry.trash.moveTag. */
  deleteTag(repository: string, tag: string): Promise<boolean>;
  /** The tags pointing at a manifest (from the index once built, else the link files), lexical order. */
  tagsOf(repository: string, digest: ParsedDigest): Promise<string[]>;
  /** Tags in lexical order (one page of them when `page` is given), or undefined when the repository does not exist. */
  listTags(repository: string, page?: PageRequest): Promise<string[] | undefined>;
  /** One page of tags with their digests and push times (O(page) once the index is built). */
  tagPage(repository: string, page: PageRequest): Promise<TagEntry[] | undefined>;
  /** How many tags the repository has (0 when unknown). */
  countTags(repository: string): Promise<number>;
  /** Repositories holding at least one manifest, in lexical order (see repository-walk.ts: listedRepositories). */
  listRepositories(): Promise<string[]>;
  /** One page of repositories in lexical order (O(page) once the index is built). */
  repositoryPage(page: PageRequest): Promise<string[]>;
  /**
   * Each repository's unique linked bytes, tag count and newest tag push from the index in one pass (sizes it lacks
   * read from the blob store once and recorded), keyed by name; undefined until the index is built.
   */
  usages(): Promise<Map<string, RepositoryUsage> | undefined>;
  /** Descriptors of the manifests whose subject is `subject`. */
  referrers(repository: string, subject: ParsedDigest): Promise<Descriptor[]>;
  /** Digests of every manifest revision stored in the repository (tagged or not), lexical order; undefined when unknown. */
  listManifests(repository: string): Promise<string[] | undefined>;
  /**
   * When a tag last moved (its link was written) or, for a digest, when the revision was first stored; undefined when
   * unknown. The link file's modification time: Berth writes a link only when a push or a mirror stores it.
   */
  pushedAt(repository: string, reference: string): Promise<Date | undefined>;
  /**
   * Deletes every tag, manifest revision, referrer link, blob link and upload session of the repository, tags first
   * (a crash half-way leaves untagged manifests, never a tag to nothing). Blobs themselves stay for garbage
   * collection; repositories nested below it (`team/app/api` under `team/app`) are kept. False when unknown.
   * For good: use Registry.trash.moveRepository (see deleteManifest).
   */
  deleteRepository(repository: string): Promise<{ tags: number; manifests: number } | undefined>;
}

export interface PutManifestResult {
  digest: string;
  mediaType: string;
  subject?: string;
}

/** The storage folders that make a folder a repository (see paths.ts), in the order deleteRepository removes them. */
const repositoryFolders: readonly RepositoryFolder[] = ['_manifests', '_referrers', '_layers', '_uploads'];

export function createRepositoryStore(driver: StorageDriver, blobs: BlobStore, index: RepositoryIndex): RepositoryStore {
  const cache = createManifestCache({ changeCount: index.changeCountNow });
  /** Walk the files until the index is built (first start, or after it was deleted). */
  const indexed = () => index.isReady();

  async function readLink(path: string): Promise<ParsedDigest | undefined> {
    try {
      return parseDigest((await driver.getContent(path)).toString('utf8').trim());
    } catch (error) {
      if (isPathNotFound(error)) return undefined;
      throw error;
    }
  }

  const exists = (path: string) => pathExists(driver, path);

  async function loadManifest(repository: string, digest: ParsedDigest): Promise<StoredManifest | undefined> {
    if (!(await exists(pathFor({ kind: 'manifestRevisionLink', repository, digest })))) return undefined;
    const bytes = await blobs.read(digest);
    if (!bytes) return undefined;
    const { mediaType } = parseManifest(bytes);
    return { digest: digest.digest, mediaType, bytes, etag: `"${digest.digest}"` };
  }

  /** A folder that holds only an upload session is not a repository yet: its first blob or manifest makes it one. */
  async function repositoryExists(repository: string): Promise<boolean> {
    return (await driver.list(pathFor({ kind: 'repository', repository }))).some((child) => child.startsWith('_') && child !== '_uploads');
  }

  /** The tags whose current link exists, read from the files. */
  async function walkTags(repository: string): Promise<string[] | undefined> {
    if (!(await repositoryExists(repository))) return undefined;
    const current: string[] = [];
    for (const tag of await driver.list(pathFor({ kind: 'tags', repository }))) {
      if (await exists(pathFor({ kind: 'tagCurrentLink', repository, tag }))) current.push(tag);
    }
    return current.sort(compareLexically);
  }

  async function referrerDigests(repository: string, subject: ParsedDigest): Promise<ParsedDigest[]> {
    if (await indexed()) return (await index.listReferrers(repository, subject.digest)).map((digest) => parseDigest(digest));
    const digests: ParsedDigest[] = [];
    for (const algorithm of ['sha256', 'sha512']) {
      for (const hex of await driver.list(pathFor({ kind: 'referrers', repository, subject, algorithm }))) {
        if (isDigest(`${algorithm}:${hex}`)) digests.push(parseDigest(`${algorithm}:${hex}`));
      }
    }
    return digests;
  }

  const store: RepositoryStore = {
    async blobSize(repository, digest) {
      if (!(await exists(pathFor({ kind: 'layerLink', repository, digest })))) return undefined;
      return blobs.size(digest);
    },

    async linkBlob(repository, digest) {
      await index.intendLink(repository, 'layer', digest.digest);
      await driver.putContent(pathFor({ kind: 'layerLink', repository, digest }), digest.digest);
      await index.commitLink(repository, 'layer', digest.digest);
      // A link to a blob that is not stored stays (harmless: blobSize needs both); removing it could remove the link
      // of a concurrent push of the same blob into this repository.
      const size = await blobs.size(digest);
      if (size === undefined) return false;
      // What namespace usage (quotas) sums; after the link, so a usage read never misses linked bytes for long.
      await index.putBlobSize(digest.digest, size);
      return true;
    },

    async unlinkBlob(repository, digest) {
      const path = pathFor({ kind: 'layerLink', repository, digest });
      if (!(await exists(path))) return false;
      await deleteLinkFile(driver, path);
      await index.removeLink(repository, 'layer', digest.digest);
      return true;
    },

    getManifest(repository, reference) {
      return cache.getOrLoad(repository, reference, async () => {
        const digest = isDigest(reference)
          ? parseDigest(reference)
          : await readLink(pathFor({ kind: 'tagCurrentLink', repository, tag: reference }));
        return digest ? loadManifest(repository, digest) : undefined;
      });
    },

    async putManifest(repository, reference, bytes, contentType, options = {}) {
      const parsed = parseManifest(bytes, contentType);
      const byDigest = isDigest(reference) || reference.includes(':');
      const expected = byDigest ? parseDigest(reference) : undefined;
      const digest = parseDigest(digestOf(bytes, expected?.algorithm ?? 'sha256'));
      if (expected && expected.digest !== digest.digest) {
        throw new RegistryError('DIGEST_INVALID', `manifest has digest ${digest.digest}, not ${expected.digest}`, {
          detail: { digest: expected.digest },
        });
      }
      const requireReferences = options.requireReferences ?? true;
      /** References not present in the repository; with `relink`, a blob whose link went but whose bytes are stored is linked again. */
      const missingReferences = async (relink: boolean): Promise<string[]> => {
        if (!requireReferences) return [];
        const missing: string[] = [];
        for (const blob of parsed.blobs) {
          const blobDigest = parseDigest(blob.digest);
          if ((await store.blobSize(repository, blobDigest)) !== undefined) continue;
          if (!relink || !(await store.linkBlob(repository, blobDigest))) missing.push(blob.digest);
        }
        for (const child of parsed.manifests) {
          if (!(await exists(pathFor({ kind: 'manifestRevisionLink', repository, digest: parseDigest(child.digest) })))) {
            missing.push(child.digest);
          }
        }
        return missing;
      };
      const refuse = (missing: string[]) =>
        new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references ${missing.length} unknown blob(s) or manifest(s)`, {
          detail: { digests: missing.slice(0, 20) },
        });
      const missing = await missingReferences(false);
      if (missing.length > 0) throw refuse(missing);
      const revisionLink = pathFor({ kind: 'manifestRevisionLink', repository, digest });
      await blobs.write(digest, bytes);
      // References first: collection must know what a revision keeps from the moment the revision may exist.
      await index.putReferences(digest.digest, referencesOf(bytes));
      await index.putBlobSize(digest.digest, bytes.length);
      await index.intendLink(repository, 'manifest', digest.digest);
      await driver.putContent(revisionLink, digest.digest);
      await index.commitLink(repository, 'manifest', digest.digest);
      // Checked again now that the revision link exists, so that a garbage collection running beside this PUT either
      // sees the link (and keeps everything the manifest references) or took something away before this second look,
      // which then notices (garbage-collector.ts has the argument): manifest bytes collected meanwhile are written
      // again, a layer link removed meanwhile is written again while its blob is stored, and a blob that is gone
      // makes the PUT fail as if it had never been pushed, with no tag written.
      if ((await blobs.size(digest)) === undefined) await blobs.write(digest, bytes);
      const gone = await missingReferences(true);
      if (gone.length > 0) {
        await driver.delete(revisionLink.slice(0, -'/link'.length));
        await index.removeLink(repository, 'manifest', digest.digest);
        cache.invalidate(repository);
        throw refuse(gone);
      }
      if (parsed.subject) {
        const subject = parseDigest(parsed.subject.digest);
        await driver.putContent(pathFor({ kind: 'referrerLink', repository, subject, digest }), digest.digest);
        await index.putReferrer(repository, subject.digest, digest.digest);
      }
      if (!byDigest) {
        await driver.putContent(pathFor({ kind: 'tagCurrentLink', repository, tag: reference }), digest.digest);
        await index.putTag(repository, reference, digest.digest, new Date());
      }
      cache.invalidate(repository);
      return { digest: digest.digest, mediaType: parsed.mediaType, subject: parsed.subject?.digest };
    },

    async deleteManifest(repository, digest) {
      const manifest = await loadManifest(repository, digest);
      if (!manifest) return false;
      // Tags first: a crash half-way leaves an untagged manifest, never a tag to nothing. The tags are read from the
      // files, not the index: a tag whose index row a crash left out must go too, or the next verify would list it.
      for (const tag of (await walkTags(repository)) ?? []) {
        const target = await readLink(pathFor({ kind: 'tagCurrentLink', repository, tag }));
        if (target?.digest !== digest.digest) continue;
        await index.removeTag(repository, tag);
        await driver.delete(pathFor({ kind: 'tag', repository, tag }));
      }
      const { subject } = parseManifest(manifest.bytes);
      if (subject) {
        const subjectDigest = parseDigest(subject.digest);
        await index.removeReferrer(repository, subjectDigest.digest, digest.digest);
        const link = pathFor({ kind: 'referrerLink', repository, subject: subjectDigest, digest });
        await driver.delete(link.slice(0, -'/link'.length));
      }
      const revision = pathFor({ kind: 'manifestRevisionLink', repository, digest });
      await driver.delete(revision.slice(0, -'/link'.length));
      await index.removeLink(repository, 'manifest', digest.digest);
      cache.invalidate(repository);
      return true;
    },

    async deleteTag(repository, tag) {
      const path = pathFor({ kind: 'tagCurrentLink', repository, tag });
      if (!(await exists(path))) return false;
      await index.removeTag(repository, tag);
      await driver.delete(pathFor({ kind: 'tag', repository, tag }));
      cache.invalidate(repository);
      return true;
    },

    async tagsOf(repository, digest) {
      // One query once the index is built; deleteManifest still reads the files (what it removes is what they hold).
      if (await indexed()) return ((await index.listTags(repository, {})) ?? []).filter((entry) => entry.digest === digest.digest).map((entry) => entry.tag);
      const tags: string[] = [];
      for (const tag of (await walkTags(repository)) ?? []) {
        if ((await readLink(pathFor({ kind: 'tagCurrentLink', repository, tag })))?.digest === digest.digest) tags.push(tag);
      }
      return tags;
    },

    async listTags(repository, page = {}) {
      if (await indexed()) return index.listTagNames(repository, page);
      const names = await walkTags(repository);
      return names && pageOf(names, page);
    },

    async tagPage(repository, page) {
      if (await indexed()) return index.listTags(repository, page);
      const names = await walkTags(repository);
      if (!names) return undefined;
      const entries: TagEntry[] = [];
      for (const tag of pageOf(names, page)) {
        const entry = await readTag(driver, repository, tag);
        if (entry) entries.push(entry);
      }
      return entries;
    },

    async countTags(repository) {
      if (await indexed()) return index.countTags(repository);
      return (await walkTags(repository))?.length ?? 0;
    },

    async listRepositories() {
      if (await indexed()) return index.listRepositories({});
      return listedRepositories(driver);
    },

    async repositoryPage(page) {
      if (await indexed()) return index.listRepositories(page);
      return pageOf(await listedRepositories(driver), page);
    },

    async usages() {
      if (!(await indexed())) return undefined;
      let usages = await index.repositoryUsages();
      // Once per store after a rebuild: later listings find every size recorded.
      const unsized = [...new Set(usages.flatMap((usage) => usage.unsized))];
      if (unsized.length > 0 && (await recordBlobSizes(index, blobs, unsized)) > 0) usages = await index.repositoryUsages();
      return new Map(usages.map((usage) => [usage.repository, usage]));
    },

    async referrers(repository, subject) {
      const descriptors: Descriptor[] = [];
      for (const digest of await referrerDigests(repository, subject)) {
        const manifest = await loadManifest(repository, digest);
        if (!manifest) continue;
        const parsed = parseManifest(manifest.bytes);
        const descriptor: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length };
        if (parsed.artifactType) descriptor.artifactType = parsed.artifactType;
        if (parsed.annotations) descriptor.annotations = parsed.annotations;
        descriptors.push(descriptor);
      }
      return descriptors.sort((a, b) => compareLexically(a.digest, b.digest));
    },

    async listManifests(repository) {
      if (!(await repositoryExists(repository))) return undefined;
      const digests: string[] = [];
      for (const algorithm of ['sha256', 'sha512']) {
        for (const hex of await driver.list(pathFor({ kind: 'manifestRevisions', repository, algorithm }))) {
          const digest = `${algorithm}:${hex}`;
          if (isDigest(digest) && (await exists(pathFor({ kind: 'manifestRevisionLink', repository, digest: parseDigest(digest) })))) digests.push(digest);
        }
      }
      return digests.sort(compareLexically);
    },

    async pushedAt(repository, reference) {
      const path = isDigest(reference)
        ? pathFor({ kind: 'manifestRevisionLink', repository, digest: parseDigest(reference) })
        : pathFor({ kind: 'tagCurrentLink', repository, tag: reference });
      try {
        return (await driver.stat(path)).modifiedAt;
      } catch (error) {
        if (isPathNotFound(error)) return undefined;
        throw error;
      }
    },

    async deleteRepository(repository) {
      const tags = await store.listTags(repository);
      if (!tags) return undefined;
      const manifests = (await store.listManifests(repository)) ?? [];
      // Through the index-aware removals, tags first (each removes its index row before its file, so no listing
      // shows what the files no longer hold); with no tags left, each manifest's removal is O(1). Then the folders
      // with whatever else is left (layer links, uploads), and the index forgets the repository.
      for (const tag of tags) await store.deleteTag(repository, tag);
      for (const manifest of manifests) await store.deleteManifest(repository, parseDigest(manifest));
      await driver.delete(pathFor({ kind: 'tags', repository }));
      for (const folder of repositoryFolders) await driver.delete(pathFor({ kind: 'repositoryFolder', repository, folder }));
      // Refused only when a write raced the delete: the next verify reconciles the index with the files.
      await index.forgetRepository(repository, await index.changeCount(repository));
      cache.invalidate(repository);
      return { tags: tags.length, manifests: manifests.length };
    },
  };
  return store;
}

/** A page of a lexically sorted list (the walk's fallback for what the index answers with one query). */
function pageOf(sorted: readonly string[], page: PageRequest): string[] {
  const after = page.last === undefined ? sorted : sorted.filter((item) => item > (page.last as string));
  const start = page.offset ?? 0;
  return after.slice(start, page.limit === undefined ? undefined : start + page.limit);
}

/** Byte-wise order, as the spec's "lexical" ordering of tags and repositories means. */
export function compareLexically(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

