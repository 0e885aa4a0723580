import { forEachConcurrently } from '../core/concurrent.js';
import { isDigest, parseDigest, type ParsedDigest } from '../core/digest.js';
import type { Logger } from '../log.js';
import { deleteQuarantined, listQuarantined, quarantineBlob, quarantinedInfo, restoreBlob } from './blob-quarantine.js';
import { createBlobStore } from './blob-store.js';
import { deleteLinkFile, isPathNotFound, type FileInfo, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';
import { createMarker } from './garbage-marks.js';
import { buildRepositoryIndex } from './repository-index-builder.js';
import type { RepositoryIndex } from './repository-index.js';
import type { Trash } from '../lifecycle/trash.js';

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
 * The trash (lifecycle/trash.ts): before marking, entries that expired are dropped; the manifests the others hold
 * are marked like revisions of their repository (garbage-marks.ts, extra roots), so a deleted image stays
 * restorable, bytes, layer links and all, until its entry expires; the run that drops the entry frees it (subject
 * to the grace period like anything else).
 *
 * Memory: one set of digests per repository and one global set; manifests (small) are read whole, blobs never.
 */
export interface GarbageCollectionOptions {
  /** Links and blobs younger than this are never collected (pushes in progress). 0 collects everything unreferenced. */
  graceMs: number;
  /** Find and report, delete nothing. */
  dryRun?: boolean;
  /** Where the index check at the start reports what it repaired. */
  log?: Logger;
  /** The clock ages are measured against (tests). Default: now. */
  now?: Date;
  /** What the trash keeps (lifecycle/trash.ts collectionRoots); without it nothing deleted is kept. */
  trash?: Pick<Trash, 'collectionRoots'>;
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
  /** Trash entries that had expired and were dropped by this run (in a dry run: that would be). */
  trashEntriesExpired: number;
  /** Manifests kept because an unexpired trash entry holds them. */
  trashManifestsKept: number;
  startedAt: string;
  durationMs: number;
  /**
   * Milliseconds each step took, in run order: recovering what a killed run left in the quarantine, the index check
   * against the link files, the trash, marking, the layer-link sweep, the second look and the blob sweep. Where the
   * time goes at scale (bench/README.md's gc rows).
   */
  phasesMs: GarbageCollectionPhases;
}

export interface GarbageCollectionPhases {
  recover: number;
  verify: number;
  trash: number;
  mark: number;
  layerSweep: number;
  secondLook: number;
  blobSweep: number;
}

/** Unreferenced blobs quarantined, then checked against the index, at a time. */
const deleteBatch = 256;
/**
 * Filesystem (or object store) steps in flight at once: each is a syscall in libuv's thread pool or a round trip, so
 * one at a time leaves both mostly idle. The order of the steps never matters; the batch order does (see flush).
 */
const stepsAtOnce = 16;

export async function collectGarbage(driver: StorageDriver, index: RepositoryIndex, options: GarbageCollectionOptions): Promise<GarbageCollectionResult> {
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
    trashEntriesExpired: 0,
    trashManifestsKept: 0,
    startedAt: new Date(started).toISOString(),
    durationMs: 0,
    phasesMs: { recover: 0, verify: 0, trash: 0, mark: 0, layerSweep: 0, secondLook: 0, blobSweep: 0 },
  };
  let lap = performance.now();
  const phaseDone = (phase: keyof GarbageCollectionPhases) => {
    const at = performance.now();
    result.phasesMs[phase] = Math.round(at - lap);
    lap = at;
  };

  // A run killed between moving a blob into the quarantine and its last check left it there: back it goes, and this
  // run judges it afresh.
  if (!dryRun) {
    for (const { algorithm, hex } of await listQuarantined(driver)) {
      const digest = digestFrom(algorithm, hex);
      if (digest) await restoreBlob(driver, digest);
    }
  }
  phaseDone('recover');

  // 1. The index is brought up to date with the link files first (one linear pass): what a crash, an OS crash or a
  //    writer that does not share this index left different is repaired, so the marks below miss no link.
  const checked = await buildRepositoryIndex(driver, blobs, index, { log: options.log });
  phaseDone('verify');

  // The trash's expired entries go now (their content is collectable from this run on); the others' manifests are
  // extra roots of both looks below. Read once: a manifest moved to the trash during the run was a revision at the
  // first look, so what it references is already marked, and marks are only ever added to.
  let trashRoots: ReadonlyArray<{ repository: string; digest: string }> = [];
  if (options.trash) {
    // Expiry by the later of the run's clock and the wall clock: "reclaim now" measures ages from a second ago
    // (registry/index.ts), which must not keep an entry that has just expired.
    const { expired, roots } = await options.trash.collectionRoots(new Date(Math.max(now, Date.now())), dryRun);
    result.trashEntriesExpired = expired.length;
    result.trashManifestsKept = roots.length;
    trashRoots = roots;
  }
  phaseDone('trash');

  // 2. Mark every repository from the index, then sweep its layer links.
  const marker = createMarker(index, blobs, options.trash ? async () => trashRoots : undefined);
  const marks = await marker.markAll();
  phaseDone('mark');
  // Every digest a remaining link of any repository points at (or a manifest references): what the blob sweep keeps.
  const linked = new Set<string>();
  // Per repository: the layer links this run removed (for the second look below).
  const unlinkedBy = new Map<string, Set<string>>();
  await forEachConcurrently(marks, stepsAtOnce / 2, async ([repository, repositoryMarks]) => {
    const candidates: ParsedDigest[] = [];
    for (const layer of repositoryMarks.layers) {
      if (repositoryMarks.unreadable > 0 || repositoryMarks.referenced.has(layer)) {
        linked.add(layer);
        continue;
      }
      const digest = parseDigest(layer);
      const info = await statOf(driver, pathFor({ kind: 'layerLink', repository, digest }));
      // No file after the verify: an intent, a link being written right now. Its blob stays.
      if (!info) {
        linked.add(layer);
        continue;
      }
      if (isOld(info.modifiedAt)) {
        candidates.push(digest);
      } else {
        result.youngSpared += 1;
        linked.add(layer);
      }
    }
    // A manifest pushed while this repository was being marked may reference a candidate: look once more, right
    // before unlinking (its PUT checked the links exist; they must not vanish under it).
    if (candidates.length > 0 && !dryRun) await marker.follow(repositoryMarks, await rootsOf(index, repository));
    const unlinked = new Set<string>();
    for (const digest of candidates) {
      if (repositoryMarks.unreadable === 0 && !repositoryMarks.referenced.has(digest.digest)) {
        if (!dryRun) {
          await deleteLinkFile(driver, pathFor({ kind: 'layerLink', repository, digest }));
          await index.removeLink(repository, 'layer', digest.digest);
        }
        unlinked.add(digest.digest);
        result.layerLinksRemoved += 1;
      } else {
        linked.add(digest.digest);
      }
    }
    for (const digest of repositoryMarks.referenced) linked.add(digest);
    result.manifestsKept += repositoryMarks.manifests.size;
    result.unreadableManifests += repositoryMarks.unreadable;
    unlinkedBy.set(repository, unlinked);
  });
  // Every repository folder the verify walked counts, also one whose images are all gone.
  result.repositories = checked.repositories;
  phaseDone('layerSweep');

  // 3. A second look before any blob goes: manifests pushed during the sweep keep their blobs, and a layer link this
  //    run removed is restored when such a manifest needs it (it was pushed after the first look). One more read
  //    of the index; references are already known.
  if (!dryRun) {
    for (const [repository, fresh] of await marker.markAll()) {
      const before = marks.get(repository);
      const unlinked = unlinkedBy.get(repository) ?? new Set<string>();
      for (const layer of fresh.layers) if (!unlinked.has(layer)) linked.add(layer);
      for (const digest of fresh.referenced) {
        linked.add(digest);
        if (!unlinked.has(digest)) continue;
        const parsed = parseDigest(digest);
        if ((await blobs.size(parsed)) === undefined) continue;
        await index.intendLink(repository, 'layer', digest);
        await driver.putContent(pathFor({ kind: 'layerLink', repository, digest: parsed }), digest);
        await index.commitLink(repository, 'layer', digest);
        result.layerLinksRemoved -= 1;
        result.relinkedDuringRun += 1;
      }
      result.manifestsKept += Math.max(0, fresh.manifests.size - (before?.manifests.size ?? 0));
    }
  }

  phaseDone('secondLook');

  // 4. Sweep the blob store. Listing the fan-out folders is cheap; each blob is stat'ed once and never read.
  //    Unreferenced old blobs are moved into the quarantine in batches; after each batch, one look at the index per
  //    blob (links and intents of every repository) decides between deleting and restoring (see the top).
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
    await forEachConcurrently(batch, stepsAtOnce, async (candidate) => {
      if (await quarantineBlob(driver, candidate.digest)) quarantined.push(candidate);
    });
    batch = [];
    if (quarantined.length === 0) return;
    // Looked up only now, after every move above has finished: a push that linked one of these blobs and then found
    // it in /blobs recorded its link's intent in the index before the move, so it is seen here.
    await forEachConcurrently(quarantined, stepsAtOnce, async ({ digest, size, modifiedAt }) => {
      const copy = await quarantinedInfo(driver, digest);
      if (!copy) {
        // Restored by a reader meanwhile: someone needs it.
        result.relinkedDuringRun += 1;
        result.blobsKept += 1;
        result.bytesKept += size;
        return;
      }
      // Stored anew since the sweep looked at it (a push reusing a blob replaces its file): a push in progress.
      const storedAgain = copy.modifiedAt.getTime() > modifiedAt.getTime() || !isOld(copy.modifiedAt);
      if (storedAgain || (await index.isLinkedAnywhere(digest.digest))) {
        await restoreBlob(driver, digest);
        result.relinkedDuringRun += 1;
        result.blobsKept += 1;
        result.bytesKept += size;
        return;
      }
      await deleteQuarantined(driver, digest);
      result.blobsDeleted += 1;
      result.bytesFreed += size;
    });
  };
  for (const algorithm of await driver.list('/blobs')) {
    for (const prefix of (await driver.list(`/blobs/${algorithm}`)).sort()) {
      const unlinked: Array<{ digest: ParsedDigest; size: number; modifiedAt: Date }> = [];
      await forEachConcurrently((await driver.list(`/blobs/${algorithm}/${prefix}`)).sort(), stepsAtOnce, async (hex) => {
        const digest = digestFrom(algorithm, hex);
        if (!digest) return; // Not a blob folder (an interrupted write's leftover): purgeLeftovers owns those.
        // As stored: its age decides, and the byte figures are what the disk or bucket holds.
        const info = await statOf(driver, pathFor({ kind: 'blobData', digest }), 'stored');
        if (!info) return;
        const young = !linked.has(digest.digest) && !isOld(info.modifiedAt);
        if (young) result.youngSpared += 1;
        if (linked.has(digest.digest) || young) {
          result.blobsKept += 1;
          result.bytesKept += info.size;
          return;
        }
        unlinked.push({ digest, size: info.size, modifiedAt: info.modifiedAt });
      });
      for (const candidate of unlinked) {
        batch.push(candidate);
        if (batch.length >= deleteBatch) await flush();
      }
    }
  }
  await flush();
  phaseDone('blobSweep');
  result.durationMs = Date.now() - started;
  return result;
}

/** A repository's roots as the index holds them now: revisions and tag targets. */
async function rootsOf(index: RepositoryIndex, repository: string): Promise<string[]> {
  const held = await index.snapshotOf(repository);
  return held ? [...held.snapshot.manifests, ...held.snapshot.tags.map((tag) => tag.digest)] : [];
}

/** The digest a `<alg>/<hex>` folder pair names, or undefined for anything else found there. */
function digestFrom(algorithm: string, hex: string): ParsedDigest | undefined {
  const text = `${algorithm}:${hex}`;
  return isDigest(text) ? parseDigest(text) : undefined;
}

async function statOf(driver: StorageDriver, path: string, as: 'decoded' | 'stored' = 'decoded'): Promise<FileInfo | undefined> {
  try {
    return await (as === 'stored' && driver.statStored ? driver.statStored(path) : driver.stat(path));
  } catch (error) {
    if (isPathNotFound(error)) return undefined;
    throw error;
  }
}
