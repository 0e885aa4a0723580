import { Readable, Transform } from 'node:stream';
import { parseDigest } from '../core/digest.js';
import { isRegistryError } from '../core/errors.js';
import { isRepositoryName } from '../core/names.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { RepositoryStore } from '../storage/repository-store.js';
import type { UploadStore } from '../storage/upload-store.js';
import { invalidArchive, refusedArchive } from './archive-error.js';
import { readArchive } from './archive-reader.js';
import { scanArchive, type ScannedFile } from './archive-scan.js';
import { planImport, type ImportPlan, type PlannedImage, type PlannedManifest } from './import-plan.js';

/**
 * Imports an OCI image layout archive or a `docker save` archive through the registry's own write path, in the
 * order a push takes:
 * 1. read the archive once, hashing every entry (archive-scan.ts), and plan what goes where (import-plan.ts): a
 *    corrupt, unsafe or incomplete archive is refused here, with nothing written;
 * 2. read it a second time, streaming each blob the store lacks into an upload session, whose digest is verified
 *    before the blob is committed (upload-store.ts): never more than a chunk in memory;
 * 3. link the blobs into each repository, store the manifests (children first; the registry's manifest parser and
 *    reference checks apply) and last point the tags at them.
 * A failure in 2 leaves at most whole, verified blobs that nothing links (garbage collection frees them), never a
 * partial blob, a link or a tag. Digests are kept byte for byte: the manifests stored are the archive's own bytes.
 */
export interface ImportStores {
  readonly blobs: BlobStore;
  readonly uploads: UploadStore;
  readonly repositories: RepositoryStore;
}

export interface ArchiveSource {
  /** A fresh stream of the whole archive: called once per read. */
  open(): Readable;
  /** Bytes, when known: progress then has a total. */
  readonly size?: number;
}

export interface ImportProgress {
  readonly phase: 'checking' | 'storing';
  /** Bytes of the archive read in this phase. */
  readonly bytes: number;
  readonly total?: number;
}

export interface ImportOptions {
  /** Every image goes into this repository, keeping its tag (needed when the archive names tags only). */
  readonly repository?: string;
  /** Throws (a TransferError) when nothing may be imported into the repository: checked before any write. */
  readonly checkRepository?: (repository: string) => void | Promise<void>;
  /** Throws when the whole plan may not be imported (immutable tags it would move, quotas it would pass): before any write. */
  readonly checkPlan?: (plan: ImportPlan) => Promise<void>;
  readonly onProgress?: (progress: ImportProgress) => void;
}

export interface ImportResult {
  readonly format: ImportPlan['format'];
  readonly images: readonly PlannedImage[];
  /** Blobs written from the archive, and their bytes. */
  readonly blobsStored: number;
  readonly bytesStored: number;
  /** Blobs Berth held already (only linked). */
  readonly blobsReused: number;
}

const progressEveryMs = 250;

/** Counts what flows through, reporting at most every 250 ms and once at the end. */
function counted(input: Readable, phase: ImportProgress['phase'], total: number | undefined, onProgress: ImportOptions['onProgress']): Readable {
  if (!onProgress) return input;
  let bytes = 0;
  let reportedAt = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      const now = Date.now();
      if (now - reportedAt >= progressEveryMs) {
        reportedAt = now;
        onProgress({ phase, bytes, total });
      }
      callback(null, chunk);
    },
    flush(callback) {
      onProgress({ phase, bytes, total });
      callback();
    },
  });
  input.on('error', (error) => counter.destroy(error));
  // A read abandoned part-way (a refused entry) closes the file too.
  counter.on('close', () => input.destroy());
  return input.pipe(counter);
}

export async function importArchive(stores: ImportStores, source: ArchiveSource, options: ImportOptions = {}): Promise<ImportResult> {
  if (options.repository !== undefined && !isRepositoryName(options.repository)) {
    throw refusedArchive(`--repository ${JSON.stringify(options.repository.slice(0, 200))} is not a repository name (lowercase path such as team/app)`);
  }
  const scan = await scanArchive(counted(source.open(), 'checking', source.size, options.onProgress));
  const plan = planImport(scan, options.repository);
  for (const repository of plan.repositories.keys()) await options.checkRepository?.(repository);
  await options.checkPlan?.(plan);
  for (const { repository, externalManifests } of plan.repositories.values()) {
    for (const digest of externalManifests) {
      if (!(await stores.repositories.getManifest(repository, digest))) {
        throw refusedArchive(`an index in the archive lists ${digest}, which neither the archive nor ${repository} holds: export the image with all its platforms`);
      }
    }
  }

  const missing = new Map<string, ScannedFile>();
  for (const [digest, file] of plan.blobEntries) {
    if ((await stores.blobs.size(parseDigest(digest))) === undefined) missing.set(digest, file);
  }
  const firstRepository = (digest: string) => [...plan.repositories.values()].find((p) => p.blobs.has(digest))?.repository ?? [...plan.repositories.keys()][0] ?? '';
  const store = async (file: ScannedFile, body: Readable) => {
    const repository = firstRepository(file.digest);
    const session = await stores.uploads.start(repository, { capped: false });
    try {
      await stores.uploads.complete(repository, session.id, parseDigest(file.digest), body);
    } catch (error) {
      await stores.uploads.cancel(repository, session.id).catch(() => undefined);
      if (isRegistryError(error) && error.code === 'DIGEST_INVALID') {
        throw invalidArchive(`archive entry ${file.name} changed while it was imported (${error.message})`, file.name);
      }
      throw error;
    }
  };
  let bytesStored = 0;
  const stored = new Set<string>();
  // Small JSON blobs (configs) were read whole by the scan; layers are read again, each straight into its upload.
  for (const [digest, file] of missing) {
    if (!file.json) continue;
    await store(file, Readable.from([file.json]));
    stored.add(digest);
    bytesStored += file.size;
  }
  if (stored.size < missing.size) {
    const byName = new Map([...missing.values()].map((file) => [file.name, file]));
    await readArchive(counted(source.open(), 'storing', source.size, options.onProgress), async (entry, body) => {
      const file = byName.get(entry.name);
      if (!file || stored.has(file.digest)) return false;
      await store(file, body);
      stored.add(file.digest);
      bytesStored += file.size;
      return true;
    });
    const lost = [...missing.values()].find((file) => !stored.has(file.digest));
    if (lost) throw invalidArchive(`archive entry ${lost.name} was gone on the second read: the archive changed while it was imported`, lost.name);
  }

  const manifests = new Map<string, PlannedManifest>();
  for (const { repository, blobs, manifests: planned } of plan.repositories.values()) {
    for (const digest of blobs) {
      if (!(await stores.repositories.linkBlob(repository, parseDigest(digest)))) {
        throw new Error(`blob ${digest} was collected before it could be linked into ${repository}: import the archive again`);
      }
    }
    for (const manifest of planned) {
      manifests.set(manifest.digest, manifest);
      await stores.repositories.putManifest(repository, manifest.digest, manifest.bytes, manifest.mediaType);
    }
  }
  for (const image of plan.images) {
    const manifest = manifests.get(image.digest) as PlannedManifest;
    if (image.tag !== undefined) await stores.repositories.putManifest(image.repository, image.tag, manifest.bytes, manifest.mediaType);
  }
  return { format: plan.format, images: plan.images, blobsStored: stored.size, bytesStored, blobsReused: plan.blobEntries.size - missing.size };
}
