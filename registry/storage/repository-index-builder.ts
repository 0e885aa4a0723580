import { forEachConcurrently } from '../core/concurrent.js';
import { isDigest, parseDigest, type ParsedDigest } from '../core/digest.js';
import { parseManifest } from '../core/manifest.js';
import type { Logger } from '../log.js';
import type { BlobStore } from './blob-store.js';
import { isPathNotFound, pathExists, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';
import type { ManifestReferences, RepositoryIndex, RepositorySnapshot, TagEntry } from './repository-index.js';
import { isRepository, walkRepositories } from './repository-walk.js';

/**
 * Builds the metadata index from the link files (first start, a deleted index, another schema version) or verifies
 * it (every start): reads each repository's links and replaces what the index holds for it, and forgets
 * repositories whose folders are gone. This is how a link file changed behind Berth's back, a write cut short by a
 * kill -9 and an index the OS lost the last writes of get repaired.
 *
 * It runs beside live writes, in this process and others: a repository is replaced only if its change counter did
 * not move while its files were read (otherwise it is read again), and intents younger than `intentGraceMs` are
 * kept (a write in flight). Cost: O(repositories + links), in the background; listings fall back to the walk until
 * the first build is done.
 */
export interface IndexBuildResult {
  repositories: number;
  /** Repositories whose rows differed from their files (0 on a clean verify). */
  repaired: number;
  durationMs: number;
}

const algorithms = ['sha256', 'sha512'] as const;
/** An intent older than this whose file is missing is a write that was cut short. */
const intentGraceMs = 10 * 60 * 1000;
const maxAttempts = 5;
/** Repositories read at once: enough to keep the thread pool and an object store's round trips busy. */
const repositoriesAtOnce = 8;
/** Link files of one repository checked at once (a repository may hold 10,000 tags). */
const checksAtOnce = 16;

export async function buildRepositoryIndex(
  driver: StorageDriver,
  blobs: Pick<BlobStore, 'read'>,
  index: RepositoryIndex,
  options: { log?: Logger; signal?: AbortSignal } = {},
): Promise<IndexBuildResult> {
  const { log, signal } = options;
  const started = Date.now();
  const result: IndexBuildResult = { repositories: 0, repaired: 0, durationMs: 0 };
  const found = await walkRepositories(driver);
  const known = await index.knownRepositories();
  await forEachConcurrently(found, repositoriesAtOnce, async (repository) => {
    signal?.throwIfAborted();
    result.repositories += 1;
    if (await syncRepository(driver, blobs, index, repository)) result.repaired += 1;
  });
  const present = new Set(found);
  for (const repository of known) {
    if (present.has(repository)) continue;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const changes = await index.changeCount(repository);
      // Created meanwhile (a push into a new repository): the next verify looks again.
      if (await isRepository(driver, repository)) break;
      if (await index.forgetRepository(repository, changes)) break;
    }
    result.repaired += 1;
  }
  await index.markReady();
  result.durationMs = Date.now() - started;
  log?.info(result, 'metadata index of %d repositories checked against the link files, %d repaired', result.repositories, result.repaired);
  return result;
}

/** Replaces one repository's rows with its files; true when they differed. */
async function syncRepository(
  driver: StorageDriver,
  blobs: Pick<BlobStore, 'read'>,
  index: RepositoryIndex,
  repository: string,
): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    const changes = await index.changeCount(repository);
    const snapshot = await readRepositorySnapshot(driver, repository);
    if (await matches(index, repository, snapshot)) {
      await recordReferences(blobs, index, snapshot.manifests);
      return false;
    }
    if (await index.replaceRepository(repository, changes, snapshot, new Date(Date.now() - intentGraceMs))) {
      await recordReferences(blobs, index, snapshot.manifests);
      return true;
    }
    // A writer got in between; after a few tries the repository is left to the next verify (writes keep it close).
    if (attempt + 1 >= maxAttempts) return true;
  }
}

/** Whether the index already says what the files say (and holds no intents). */
async function matches(index: RepositoryIndex, repository: string, files: RepositorySnapshot): Promise<boolean> {
  const held = await index.snapshotOf(repository);
  if (!held) return !files.exists && files.layers.length + files.manifests.length + files.tags.length + files.referrers.length === 0;
  if (!files.exists || held.intents > 0) return false;
  const rows = held.snapshot;
  const tagKey = (tag: TagEntry) => `${tag.tag} ${tag.digest}`;
  const referrerKey = (referrer: { subject: string; digest: string }) => `${referrer.subject} ${referrer.digest}`;
  return (
    sameSet(rows.layers, files.layers) &&
    sameSet(rows.manifests, files.manifests) &&
    sameSet(rows.tags.map(tagKey), files.tags.map(tagKey)) &&
    sameSet(rows.referrers.map(referrerKey), files.referrers.map(referrerKey))
  );
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const inA = new Set(a);
  return b.every((value) => inA.has(value));
}

/** Manifests the index has no references for yet are read once (content by digest never changes). */
async function recordReferences(blobs: Pick<BlobStore, 'read'>, index: RepositoryIndex, manifests: readonly string[]): Promise<void> {
  for (const manifest of manifests) await manifestReferences(blobs, index, manifest);
}

/**
 * What a manifest references, from the index or else read from its bytes (and then recorded); undefined when its
 * bytes are missing or are not a manifest (what it keeps is then unknown).
 */
export async function manifestReferences(blobs: Pick<BlobStore, 'read'>, index: RepositoryIndex, manifest: string): Promise<ManifestReferences | undefined> {
  const known = await index.referencesOf(manifest);
  if (known) return known;
  const bytes = await blobs.read(parseDigest(manifest));
  if (!bytes) return undefined;
  let references: ManifestReferences;
  try {
    references = referencesOf(bytes);
  } catch {
    return undefined;
  }
  await index.putReferences(manifest, references);
  return references;
}

/** Config, layers and children of a manifest: what it keeps alive. Throws on bytes that are not a manifest. */
export function referencesOf(bytes: Uint8Array): ManifestReferences {
  const parsed = parseManifest(bytes);
  return { blobs: [...new Set(parsed.blobs.map((blob) => blob.digest))], manifests: [...new Set(parsed.manifests.map((child) => child.digest))] };
}

/** What a repository's link files say: layer links, revisions, tags (with their link's time), referrers. */
export async function readRepositorySnapshot(driver: StorageDriver, repository: string): Promise<RepositorySnapshot> {
  const folders = await driver.list(pathFor({ kind: 'repository', repository }));
  const holdsLinks = folders.includes('_layers') || folders.includes('_manifests');
  const snapshot: RepositorySnapshot = { exists: holdsLinks, layers: [], manifests: [], tags: [], referrers: [] };
  // Adds to `into` the digests among the folder names `names` whose link file exists, checked side by side.
  const addLinked = (into: string[], names: string[], algorithm: string, linkOf: (digest: ParsedDigest) => string): Promise<void> =>
    forEachConcurrently(names, checksAtOnce, async (hex) => {
      const digest = digestFrom(algorithm, hex);
      if (digest && (await pathExists(driver, linkOf(digest)))) into.push(digest.digest);
    });
  // Only the algorithm folders that exist are listed (almost always sha256 alone): a listing of a missing folder
  // costs an error object on the filesystem, and a walk of 10,000 repositories made 40,000 of them.
  const algorithmsUnder = async (present: boolean, path: string): Promise<string[]> =>
    present ? (await driver.list(path)).filter((name): name is (typeof algorithms)[number] => (algorithms as readonly string[]).includes(name)) : [];
  const [layerAlgorithms, revisionAlgorithms, referrerAlgorithms] = await Promise.all([
    algorithmsUnder(folders.includes('_layers'), pathFor({ kind: 'repositoryFolder', repository, folder: '_layers' })),
    algorithmsUnder(folders.includes('_manifests'), pathFor({ kind: 'manifestRevisionsRoot', repository })),
    algorithmsUnder(folders.includes('_referrers'), pathFor({ kind: 'repositoryFolder', repository, folder: '_referrers' })),
  ]);
  const addAll = async (into: string[], algorithmsFound: string[], listing: (algorithm: string) => string, linkOf: (digest: ParsedDigest) => string) => {
    for (const algorithm of algorithmsFound) await addLinked(into, await driver.list(listing(algorithm)), algorithm, linkOf);
  };
  await Promise.all([
    addAll(snapshot.layers, layerAlgorithms, (algorithm) => pathFor({ kind: 'layerLinks', repository, algorithm }), (digest) => pathFor({ kind: 'layerLink', repository, digest })),
    addAll(
      snapshot.manifests,
      revisionAlgorithms,
      (algorithm) => pathFor({ kind: 'manifestRevisions', repository, algorithm }),
      (digest) => pathFor({ kind: 'manifestRevisionLink', repository, digest }),
    ),
  ]);
  for (const algorithm of referrerAlgorithms) {
    for (const subjectHex of await driver.list(pathFor({ kind: 'referrerSubjects', repository, algorithm }))) {
      const subject = digestFrom(algorithm, subjectHex);
      if (!subject) continue;
      for (const referrerAlgorithm of algorithms) {
        for (const hex of await driver.list(pathFor({ kind: 'referrers', repository, subject, algorithm: referrerAlgorithm }))) {
          const digest = digestFrom(referrerAlgorithm, hex);
          if (digest && (await pathExists(driver, pathFor({ kind: 'referrerLink', repository, subject, digest })))) {
            snapshot.referrers.push({ subject: subject.digest, digest: digest.digest });
          }
        }
      }
    }
  }
  const tags: TagEntry[] = [];
  await forEachConcurrently(await driver.list(pathFor({ kind: 'tags', repository })), checksAtOnce, async (tag) => {
    const entry = await readTag(driver, repository, tag);
    if (entry) tags.push(entry);
  });
  snapshot.tags = tags.sort((a, b) => (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  return snapshot;
}

/** A tag's current link with its time, or undefined when the tag has none. */
export async function readTag(driver: StorageDriver, repository: string, tag: string): Promise<TagEntry | undefined> {
  const path = pathFor({ kind: 'tagCurrentLink', repository, tag });
  try {
    const [content, info] = await Promise.all([driver.getContent(path), driver.stat(path)]);
    const text = content.toString('utf8').trim();
    return isDigest(text) ? { tag, digest: parseDigest(text).digest, pushedAt: info.modifiedAt } : undefined;
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}

function digestFrom(algorithm: string, hex: string): ParsedDigest | undefined {
  const text = `${algorithm}:${hex}`;
  return isDigest(text) ? parseDigest(text) : undefined;
}
