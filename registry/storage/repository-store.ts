import { digestOf, isDigest, parseDigest, type ParsedDigest } from '../core/digest.js';
import { RegistryError } from '../core/errors.js';
import { parseManifest, type Descriptor } from '../core/manifest.js';
import type { BlobStore } from './blob-store.js';
import { isPathNotFound, type StorageDriver } from './driver.js';
import { createManifestCache, type CachedManifest } from './manifest-cache.js';
import { pathFor, type RepositoryFolder } from './paths.js';
import { listedRepositories } from './repository-walk.js';

export type StoredManifest = CachedManifest;

/**
 * What a repository holds: links to blobs, manifest revisions, tags and the referrers index.
 * Writes happen in an order that keeps every reader safe across a kill -9 at any point:
 * manifest bytes, then the revision link, then the referrer link, then the tag. A tag therefore
 * never points at a manifest that is not stored.
 */
export interface RepositoryStore {
  /** Size of a blob visible in the repository, or undefined. */
  blobSize(repository: string, digest: ParsedDigest): Promise<number | undefined>;
  linkBlob(repository: string, digest: ParsedDigest): Promise<void>;
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
  /** Deletes a manifest revision and every tag pointing at it; false when unknown. */
  deleteManifest(repository: string, digest: ParsedDigest): Promise<boolean>;
  deleteTag(repository: string, tag: string): Promise<boolean>;
  /** Tags in lexical order, or undefined when the repository does not exist. */
  listTags(repository: string): Promise<string[] | undefined>;
  /** Repositories holding at least one manifest, in lexical order (see repository-walk.ts: listedRepositories). */
  listRepositories(): Promise<string[]>;
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

export function createRepositoryStore(driver: StorageDriver, blobs: BlobStore): RepositoryStore {
  const cache = createManifestCache();

  async function readLink(path: string): Promise<ParsedDigest | undefined> {
    try {
      return parseDigest((await driver.getContent(path)).toString('utf8').trim());
    } catch (error) {
      if (isPathNotFound(error)) return undefined;
      throw error;
    }
  }

  async function exists(path: string): Promise<boolean> {
    try {
      await driver.stat(path);
      return true;
    } catch (error) {
      if (isPathNotFound(error)) return false;
      throw error;
    }
  }

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

  const store: RepositoryStore = {
    async blobSize(repository, digest) {
      if (!(await exists(pathFor({ kind: 'layerLink', repository, digest })))) return undefined;
      return blobs.size(digest);
    },

    async linkBlob(repository, digest) {
      await driver.putContent(pathFor({ kind: 'layerLink', repository, digest }), digest.digest);
    },

    async unlinkBlob(repository, digest) {
      const path = pathFor({ kind: 'layerLink', repository, digest });
      if (!(await exists(path))) return false;
      await driver.delete(path.slice(0, -'/link'.length));
      return true;
    },

    async getManifest(repository, reference) {
      const cached = cache.get(repository, reference);
      if (cached) return cached;
      const digest = isDigest(reference)
        ? parseDigest(reference)
        : await readLink(pathFor({ kind: 'tagCurrentLink', repository, tag: reference }));
      if (!digest) return undefined;
      const manifest = await loadManifest(repository, digest);
      if (manifest) cache.set(repository, reference, manifest);
      return manifest;
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
      const missing: string[] = [];
      const requireReferences = options.requireReferences ?? true;
      for (const blob of requireReferences ? parsed.blobs : []) {
        if ((await store.blobSize(repository, parseDigest(blob.digest))) === undefined) missing.push(blob.digest);
      }
      for (const child of requireReferences ? parsed.manifests : []) {
        if (!(await exists(pathFor({ kind: 'manifestRevisionLink', repository, digest: parseDigest(child.digest) })))) {
          missing.push(child.digest);
        }
      }
      if (missing.length > 0) {
        throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references ${missing.length} unknown blob(s) or manifest(s)`, {
          detail: { digests: missing.slice(0, 20) },
        });
      }
      await blobs.write(digest, bytes);
      await driver.putContent(pathFor({ kind: 'manifestRevisionLink', repository, digest }), digest.digest);
      if (parsed.subject) {
        const subject = parseDigest(parsed.subject.digest);
        await driver.putContent(pathFor({ kind: 'referrerLink', repository, subject, digest }), digest.digest);
      }
      if (!byDigest) await driver.putContent(pathFor({ kind: 'tagCurrentLink', repository, tag: reference }), digest.digest);
      cache.invalidate(repository);
      return { digest: digest.digest, mediaType: parsed.mediaType, subject: parsed.subject?.digest };
    },

    async deleteManifest(repository, digest) {
      const manifest = await loadManifest(repository, digest);
      if (!manifest) return false;
      // Tags first: a crash half-way leaves an untagged manifest, never a tag to nothing.
      for (const tag of (await store.listTags(repository)) ?? []) {
        const target = await readLink(pathFor({ kind: 'tagCurrentLink', repository, tag }));
        if (target?.digest === digest.digest) await driver.delete(pathFor({ kind: 'tag', repository, tag }));
      }
      const { subject } = parseManifest(manifest.bytes);
      if (subject) {
        const link = pathFor({ kind: 'referrerLink', repository, subject: parseDigest(subject.digest), digest });
        await driver.delete(link.slice(0, -'/link'.length));
      }
      const revision = pathFor({ kind: 'manifestRevisionLink', repository, digest });
      await driver.delete(revision.slice(0, -'/link'.length));
      cache.invalidate(repository);
      return true;
    },

    async deleteTag(repository, tag) {
      const path = pathFor({ kind: 'tagCurrentLink', repository, tag });
      if (!(await exists(path))) return false;
      await driver.delete(pathFor({ kind: 'tag', repository, tag }));
      cache.invalidate(repository);
      return true;
    },

    async listTags(repository) {
      if (!(await repositoryExists(repository))) return undefined;
      const tags = await driver.list(pathFor({ kind: 'tags', repository }));
      const current: string[] = [];
      for (const tag of tags) {
        if (await exists(pathFor({ kind: 'tagCurrentLink', repository, tag }))) current.push(tag);
      }
      return current.sort(compareLexically);
    },

    listRepositories() {
      return listedRepositories(driver);
    },

    async referrers(repository, subject) {
      const descriptors: Descriptor[] = [];
      for (const algorithm of ['sha256', 'sha512']) {
        for (const hex of await driver.list(pathFor({ kind: 'referrers', repository, subject, algorithm }))) {
          const digest = parseDigest(`${algorithm}:${hex}`);
          const manifest = await loadManifest(repository, digest);
          if (!manifest) continue;
          const parsed = parseManifest(manifest.bytes);
          const descriptor: Descriptor = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length };
          if (parsed.artifactType) descriptor.artifactType = parsed.artifactType;
          if (parsed.annotations) descriptor.annotations = parsed.annotations;
          descriptors.push(descriptor);
        }
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
      await driver.delete(pathFor({ kind: 'tags', repository }));
      for (const folder of repositoryFolders) await driver.delete(pathFor({ kind: 'repositoryFolder', repository, folder }));
      cache.invalidate(repository);
      return { tags: tags.length, manifests: manifests.length };
    },
  };
  return store;
}

/** Byte-wise order, as the spec's "lexical" ordering of tags and repositories means. */
export function compareLexically(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

