import { isDigest, parseDigest, type ParsedDigest } from '../core/digest.js';
import { parseManifest } from '../core/manifest.js';
import { deleteQuarantined, listQuarantined, quarantineBlob, quarantinedInfo, restoreBlob } from './blob-quarantine.js';
import { createBlobStore, type BlobStore } from './blob-store.js';
import { isPathNotFound, type FileInfo, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';
import { walkRepositories } from './repository-walk.js';

/**
 * Mark-and-sweep garbage collection over Berth's link files (after CNCF distribution's `registry garbage-collect`,
 * adapted so it can run beside a live server instead of needing read-only mode).
 *
 * What is kept: every manifest revision of every repository, tagged or not (an untagged manifest is still pullable
 * by digest, so deleting a tag frees nothing; deleting the manifest by digest does), every tag's target, and every
 * blob those manifests reference: config, layers, and an index's children with their own blobs (also a child deleted
 * by digest while its index remains, so the index stays complete). Referrers (signatures, SBOMs) are revisions too;
 * a referrer does not keep its subject. Pull-through caches are repositories like any other: what their stored
 * manifests reference stays.
 *
 * What is collected:
 * 1. a `_layers` link whose blob no manifest of that repository references (a layer of a deleted image), once the
 *    link is older than `graceMs`: a push links its layers before its manifest arrives;
 * 2. then a blob under `/blobs/` that no remaining link of any repository (layer link, manifest revision link or tag)
 *    references, once its data file is older than `graceMs`: an upload moved into the store is linked a moment later.
 * Upload sessions (`_uploads`) are never touched: the upload purge owns them.
 *
 * Crash safety: only unreferenced things are deleted, links before blobs. A kill -9 at any point therefore leaves no
 * tag or revision pointing at missing bytes; at worst some garbage survives until the next run.
 *
 * Running beside pushes, without ever deleting a blob that a repository links (the argument, in three rules):
 * - Pushes (storage/repository-store.ts, blob-store.ts): whoever makes a repository reference a blob writes the
 *   link FIRST and only then looks for the blob, and reports success only if it found it. linkBlob does exactly
 *   that; a manifest PUT checks its layers, writes its revision link, then checks them again. Looking means
 *   BlobStore.size/read/reader, which restore a blob found in the quarantine. Storing a blob that exists replaces
 *   its file, so a reused blob is as young as a new one.
 * - This collector takes a blob out of `/blobs` only by one atomic move into the quarantine
 *   (storage/blob-quarantine.ts). Only after the move does it list the repositories afresh and look for any link
 *   to the blob; it deletes the quarantined copy only if there is none and the copy is still the old file it first
 *   saw, and restores it otherwise. A run killed in between leaves the copy in the quarantine, restored next run.
 * - Why no push can lose: say a push wrote link L at t1 and then found the blob's file F in `/blobs` at t2 > t1.
 *   F can only leave `/blobs` by a move at some g1 > t2, after which the collector lists repositories and links,
 *   which sees L (written at t1 < g1), so F is restored. If instead the collector moved F before t2, the push's
 *   look at t2 finds F in the quarantine and puts it back, or finds nothing (the collector had already deleted F,
 *   having seen no link, so L came later) and the push fails as if the blob had never been there: it never
 *   answers 201 for a blob that is about to go. A push that stored the bytes itself made a new file, which is
 *   either not the one quarantined or one the collector sees as stored again.
 * What this costs a reader: between the move and the restore (milliseconds, one batch) a GET of an old
 * unreferenced blob finds it in the quarantine and restores it itself. Layer links get the same care less
 * strictly: a repository's manifests are read again right before its layer links are removed, all repositories'
 * manifests once more before the blob sweep (a layer link removed in between is restored when a new manifest needs
 * it), and a manifest PUT re-links a layer whose link went after its first check. On an object store the move is
 * a copy and a delete: the argument holds (at every moment one of the two copies exists), at the price of a copy.
 *
 * Memory: one set of digests per repository and one global set; manifests (small) are read whole, blobs never.
 */
export interface GarbageCollectionOptions {
  /** Links and blobs younger than this are never collected (pushes in progress). 0 collects everything unreferenced. */
  graceMs: number;
  /** Find and report, delete nothing. */
  dryRun?: boolean;
  /** The clock ages are measured against (tests). Default: now. */
  now?: Date;
}

export interface GarbageCollectionResult {
  dryRun: boolean;
  graceMs: number;
  repositories: number;
  /** Manifest revisions kept (tagged or not), summed over repositories. */
  manifestsKept: number;
  /** Blobs still stored after the run (in a dry run: those that would be). */
  blobsKept: number;
  bytesKept: number;
  /** Blobs deleted (in a dry run: that would be). */
  blobsDeleted: number;
  bytesFreed: number;
  /** `_layers` links to blobs no manifest of their repository references (in a dry run: that would be removed). */
  layerLinksRemoved: number;
  /** Unreferenced blobs and layer links spared because they are younger than the grace period. */
  youngSpared: number;
  /**
   * Revisions whose manifest bytes could not be read or parsed. What they reference is unknown, so their
   * repository's layer links are all kept (never guess when guessing wrong loses data).
   */
  unreadableManifests: number;
  /** Blobs (and layer links) that a push linked, stored again or read during the run: kept (see the top). */
  relinkedDuringRun: number;
  startedAt: string;
  durationMs: number;
}

const manifestAlgorithms = ['sha256', 'sha512'] as const;
/** Unreferenced blobs quarantined, then checked against one fresh walk of the repositories, at a time. */
const deleteBatch = 256;

type BlobReader = Pick<BlobStore, 'read'>;

/** What one repository's manifests keep. */
interface RepositoryMarks {
  /** Digests of the repository's stored manifests (revisions and tag targets) already read. */
  manifests: Set<string>;
  /** Digests the manifests reference (themselves, config, layers, children). */
  referenced: Set<string>;
  /** Manifests that could not be read or parsed: while there are any, no layer link of the repository may be judged
   * unreferenced. */
  unreadable: number;
}

export async function collectGarbage(driver: StorageDriver, options: GarbageCollectionOptions): Promise<GarbageCollectionResult> {
  const started = Date.now();
  const now = (options.now ?? new Date()).getTime();
  const dryRun = options.dryRun ?? false;
  const graceMs = Math.max(0, options.graceMs);
  const isOld = (modifiedAt: Date) => graceMs === 0 || now - modifiedAt.getTime() >= graceMs;
  const blobs = createBlobStore(driver);
  const result: GarbageCollectionResult = {
    dryRun,
    graceMs,
    repositories: 0,
    manifestsKept: 0,
    blobsKept: 0,
    bytesKept: 0,
    blobsDeleted: 0,
    bytesFreed: 0,
    layerLinksRemoved: 0,
    youngSpared: 0,
    unreadableManifests: 0,
    relinkedDuringRun: 0,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
  };

  // A run killed between moving a blob into the quarantine and its last check left it there: back it goes, and this
  // run judges it afresh.
  if (!dryRun) {
    for (const { algorithm, hex } of await listQuarantined(driver)) {
      const digest = digestFrom(algorithm, hex);
      if (digest) await restoreBlob(driver, digest);
    }
  }

  // Every digest a remaining link of any repository points at (or a manifest references): what the blob sweep keeps.
  const linked = new Set<string>();
  // Per repository: the manifests read so far, and the layer links this run removed (for the second look below).
  const seen = new Map<string, { manifests: Set<string>; unlinked: Set<string> }>();

  // 1. Mark each repository, then sweep its layer links.
  for (const repository of await walkRepositories(driver)) {
    const marks: RepositoryMarks = { manifests: new Set(), referenced: new Set(), unreadable: 0 };
    await markManifests(driver, blobs, repository, marks);
    const candidates: LinkEntry[] = [];
    for (const layer of await listLayerLinks(driver, repository)) {
      if (marks.unreadable > 0 || marks.referenced.has(layer.digest.digest)) {
        linked.add(layer.digest.digest);
        continue;
      }
      const info = await statOf(driver, pathFor({ kind: 'layerLink', repository, digest: layer.digest }));
      if (!info) continue; // Removed meanwhile (DELETE /v2/<name>/blobs/<digest>, or another run).
      if (isOld(info.modifiedAt)) {
        candidates.push(layer);
      } else {
        result.youngSpared += 1;
        linked.add(layer.digest.digest);
      }
    }
    // A manifest pushed while this repository was being marked may reference a candidate: look once more, right
    // before unlinking (its PUT checked the links exist; they must not vanish under it).
    if (candidates.length > 0 && !dryRun) await markManifests(driver, blobs, repository, marks);
    const unlinked = new Set<string>();
    for (const layer of candidates) {
      if (marks.unreadable === 0 && !marks.referenced.has(layer.digest.digest)) {
        if (!dryRun) await driver.delete(layer.folder);
        unlinked.add(layer.digest.digest);
        result.layerLinksRemoved += 1;
      } else {
        linked.add(layer.digest.digest);
      }
    }
    for (const digest of marks.referenced) linked.add(digest);
    result.manifestsKept += marks.manifests.size;
    result.unreadableManifests += marks.unreadable;
    seen.set(repository, { manifests: marks.manifests, unlinked });
  }

  // 2. A second look before any blob goes: manifests pushed during the sweep keep their blobs, and a layer link this
  //    run removed is restored when such a manifest needs it (it was pushed after the first look).
  const repositories = await walkRepositories(driver);
  result.repositories = repositories.length;
  if (!dryRun) {
    for (const repository of repositories) {
      const before = seen.get(repository) ?? { manifests: new Set<string>(), unlinked: new Set<string>() };
      const marks: RepositoryMarks = { manifests: new Set(before.manifests), referenced: new Set(), unreadable: 0 };
      await markManifests(driver, blobs, repository, marks);
      for (const digest of marks.referenced) {
        linked.add(digest);
        if (!before.unlinked.has(digest)) continue;
        const parsed = parseDigest(digest);
        if ((await blobs.size(parsed)) === undefined) continue;
        await driver.putContent(pathFor({ kind: 'layerLink', repository, digest: parsed }), digest);
        result.layerLinksRemoved -= 1;
        result.relinkedDuringRun += 1;
      }
      result.manifestsKept += marks.manifests.size - before.manifests.size;
    }
  }

  // 3. Sweep the blob store. Listing the fan-out folders is cheap; each blob is stat'ed once and never read.
  //    Unreferenced old blobs are moved into the quarantine in batches; after each batch, one fresh look at which
  //    repositories exist and at each one's links decides, per blob, between deleting and restoring (see the top).
  let batch: Array<{ digest: ParsedDigest; size: number; modifiedAt: Date }> = [];
  const flush = async () => {
    if (dryRun) {
      for (const { size } of batch) {
        result.blobsDeleted += 1;
        result.bytesFreed += size;
      }
      batch = [];
      return;
    }
    const quarantined: typeof batch = [];
    for (const candidate of batch) {
      if (await quarantineBlob(driver, candidate.digest)) quarantined.push(candidate);
    }
    batch = [];
    if (quarantined.length === 0) return;
    // Listed only now, after every move above: a push that linked one of these blobs and then found it in /blobs did
    // so before the move, so its repository and its link are seen here.
    const current = await walkRepositories(driver);
    for (const { digest, size, modifiedAt } of quarantined) {
      const copy = await quarantinedInfo(driver, digest);
      if (!copy) {
        // Restored by a reader meanwhile: someone needs it.
        result.relinkedDuringRun += 1;
        result.blobsKept += 1;
        result.bytesKept += size;
        continue;
      }
      // Stored anew since the sweep looked at it (a push reusing a blob replaces its file): a push in progress.
      const storedAgain = copy.modifiedAt.getTime() > modifiedAt.getTime() || !isOld(copy.modifiedAt);
      if (storedAgain || (await isLinkedAnywhere(driver, current, digest))) {
        await restoreBlob(driver, digest);
        result.relinkedDuringRun += 1;
        result.blobsKept += 1;
        result.bytesKept += size;
        continue;
      }
      await deleteQuarantined(driver, digest);
      result.blobsDeleted += 1;
      result.bytesFreed += size;
    }
  };
  for (const algorithm of await driver.list('/blobs')) {
    for (const prefix of (await driver.list(`/blobs/${algorithm}`)).sort()) {
      for (const hex of (await driver.list(`/blobs/${algorithm}/${prefix}`)).sort()) {
        const digest = digestFrom(algorithm, hex);
        if (!digest) continue; // Not a blob folder (an interrupted write's leftover): purgeLeftovers owns those.
        const info = await statOf(driver, pathFor({ kind: 'blobData', digest }));
        if (!info) continue;
        const young = !linked.has(digest.digest) && !isOld(info.modifiedAt);
        if (young) result.youngSpared += 1;
        if (linked.has(digest.digest) || young) {
          result.blobsKept += 1;
          result.bytesKept += info.size;
          continue;
        }
        batch.push({ digest, size: info.size, modifiedAt: info.modifiedAt });
        if (batch.length >= deleteBatch) await flush();
      }
    }
  }
  await flush();
  result.durationMs = Date.now() - started;
  return result;
}

/**
 * Reads the repository's manifests not in `marks.manifests` yet (revisions and tag targets) and adds what they
 * reference to `marks.referenced`. Run again on the same marks, it reads only manifests that appeared since.
 */
async function markManifests(driver: StorageDriver, blobs: BlobReader, repository: string, marks: RepositoryMarks): Promise<void> {
  const roots: ParsedDigest[] = [];
  for (const algorithm of manifestAlgorithms) {
    for (const hex of await driver.list(pathFor({ kind: 'manifestRevisions', repository, algorithm }))) {
      const digest = digestFrom(algorithm, hex);
      // A revision folder without its link is a delete cut short: not a revision any more.
      if (digest && (await readLink(driver, pathFor({ kind: 'manifestRevisionLink', repository, digest })))) roots.push(digest);
    }
  }
  for (const tag of await driver.list(pathFor({ kind: 'tags', repository }))) {
    const target = await readLink(driver, pathFor({ kind: 'tagCurrentLink', repository, tag }));
    if (target) roots.push(target);
  }
  // Children of an index are followed even when they are not revisions any more (deleted by digest while the
  // index still names them), so an index that is kept stays complete.
  const pending = [...roots];
  const rootDigests = new Set(roots.map((root) => root.digest));
  for (let digest = pending.pop(); digest; digest = pending.pop()) {
    if (marks.manifests.has(digest.digest)) continue;
    marks.manifests.add(digest.digest);
    marks.referenced.add(digest.digest);
    const bytes = await blobs.read(digest);
    if (!bytes) {
      // A root must have bytes; a child may legitimately be absent (a platform a pull-through cache never fetched).
      if (rootDigests.has(digest.digest)) marks.unreadable += 1;
      continue;
    }
    try {
      const parsed = parseManifest(bytes);
      for (const blob of parsed.blobs) marks.referenced.add(blob.digest);
      for (const child of parsed.manifests) {
        const childDigest = parseDigest(child.digest);
        marks.referenced.add(childDigest.digest);
        if (!marks.manifests.has(childDigest.digest)) pending.push(childDigest);
      }
      // The subject is not followed: a referrer (signature, SBOM) does not keep the image it points at alive.
    } catch {
      marks.unreadable += 1;
    }
  }
}

interface LinkEntry {
  digest: ParsedDigest;
  /** The link's folder (`.../_layers/<alg>/<hex>`), which a removal deletes whole (as unlinkBlob does). */
  folder: string;
}

/** The repository's `_layers/<alg>/<hex>/link` entries (by folder name; the link itself is stat'ed by the caller). */
async function listLayerLinks(driver: StorageDriver, repository: string): Promise<LinkEntry[]> {
  const base = `${pathFor({ kind: 'repository', repository })}/_layers`;
  const entries: LinkEntry[] = [];
  for (const algorithm of await driver.list(base)) {
    for (const hex of await driver.list(`${base}/${algorithm}`)) {
      const digest = digestFrom(algorithm, hex);
      if (digest) entries.push({ digest, folder: `${base}/${algorithm}/${hex}` });
    }
  }
  return entries;
}

/** The last check before a blob goes: does any repository link it now, as a layer or a manifest revision? */
async function isLinkedAnywhere(driver: StorageDriver, repositories: readonly string[], digest: ParsedDigest): Promise<boolean> {
  for (const repository of repositories) {
    if (await statOf(driver, pathFor({ kind: 'layerLink', repository, digest }))) return true;
    if (await statOf(driver, pathFor({ kind: 'manifestRevisionLink', repository, digest }))) return true;
  }
  return false;
}

/** The digest a `<alg>/<hex>` folder pair names, or undefined for anything else found there. */
function digestFrom(algorithm: string, hex: string): ParsedDigest | undefined {
  const text = `${algorithm}:${hex}`;
  return isDigest(text) ? parseDigest(text) : undefined;
}

async function readLink(driver: StorageDriver, path: string): Promise<ParsedDigest | undefined> {
  try {
    const text = (await driver.getContent(path)).toString('utf8').trim();
    return isDigest(text) ? parseDigest(text) : undefined;
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}

async function statOf(driver: StorageDriver, path: string): Promise<FileInfo | undefined> {
  try {
    return await driver.stat(path);
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}
