import type { Readable, Writable } from 'node:stream';
import type { ParsedDigest } from '../core/digest.js';
import { restoreBlob } from './blob-quarantine.js';
import { isPathNotFound, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';

/**
 * The global content-addressed store. Content is never changed in place: an upload is moved in only after its
 * digest verified. Visibility per repository is the repository store's job (link files), not this one's.
 *
 * Two rules keep the garbage collector, which runs beside pushes, from deleting what a push relies on (the whole
 * argument is in garbage-collector.ts):
 * - storing a blob that exists already replaces its file (same bytes, a fresh modification time), so a reused blob
 *   counts as new for the collector's grace period, exactly like a blob stored for the first time;
 * - a blob not found in `/blobs` is looked for in the collector's quarantine and restored from there before the
 *   store answers "not stored" (storage/blob-quarantine.ts).
 */
export interface BlobStore {
  /** Size in bytes, or undefined when the blob is not stored. */
  size(digest: ParsedDigest): Promise<number | undefined>;
  reader(digest: ParsedDigest, range?: { start: number; end: number }): Promise<Readable>;
  /** Writes `[start, end]` of a blob into a response without ending it (see StorageDriver.copyTo). */
  copyTo(digest: ParsedDigest, destination: Writable, range: { start: number; end: number }): Promise<void>;
  /** Small content (manifests) read whole. Undefined when not stored. */
  read(digest: ParsedDigest): Promise<Buffer | undefined>;
  /** Stores small, already-verified content (manifests), replacing an existing copy (see above). */
  write(digest: ParsedDigest, content: Uint8Array): Promise<void>;
  /** Moves a verified, fsynced upload file into place, replacing an existing copy (see above). */
  adopt(digest: ParsedDigest, uploadPath: string): Promise<void>;
}

export function createBlobStore(driver: StorageDriver): BlobStore {
  const blobPath = (digest: ParsedDigest) => pathFor({ kind: 'blobData', digest });

  /** Runs `read`; when the blob is missing, restores it from the quarantine and runs `read` once more. */
  async function orRestored<T>(digest: ParsedDigest, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (!isPathNotFound(error) || !(await restoreBlob(driver, digest))) throw error;
      return read();
    }
  }

  async function undefinedIfMissing<T>(work: Promise<T>): Promise<T | undefined> {
    try {
      return await work;
    } catch (error) {
      if (isPathNotFound(error)) return undefined;
      throw error;
    }
  }

  return {
    async size(digest) {
      return undefinedIfMissing(orRestored(digest, async () => (await driver.stat(blobPath(digest))).size));
    },

    reader(digest, range) {
      return orRestored(digest, () => driver.reader(blobPath(digest), range));
    },

    copyTo(digest, destination, range) {
      // Only the open can miss: once it has the file, a move into the quarantine does not disturb the copy.
      return orRestored(digest, () => driver.copyTo(blobPath(digest), destination, range));
    },

    async read(digest) {
      return undefinedIfMissing(orRestored(digest, () => driver.getContent(blobPath(digest))));
    },

    async write(digest, content) {
      await driver.putContent(blobPath(digest), content);
    },

    async adopt(digest, uploadPath) {
      await driver.move(uploadPath, blobPath(digest));
    },
  };
}
