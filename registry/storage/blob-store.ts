import type { Readable, Writable } from 'node:stream';
import type { ParsedDigest } from '../core/digest.js';
import { isPathNotFound, type StorageDriver } from './driver.js';
import { pathFor } from './paths.js';

/**
 * The global content-addressed store. Content is written once and never changed in place: an
 * upload is moved in only after its digest verified, and a blob that exists is not written again.
 * Visibility per repository is the repository store's job (link files), not this one's.
 */
export interface BlobStore {
  /** Size in bytes, or undefined when the blob is not stored. */
  size(digest: ParsedDigest): Promise<number | undefined>;
  reader(digest: ParsedDigest, range?: { start: number; end: number }): Promise<Readable>;
  /** Writes `[start, end]` of a blob into a response without ending it (see StorageDriver.copyTo). */
  copyTo(digest: ParsedDigest, destination: Writable, range: { start: number; end: number }): Promise<void>;
  /** Small content (manifests) read whole. Undefined when not stored. */
  read(digest: ParsedDigest): Promise<Buffer | undefined>;
  /** Stores small, already-verified content (manifests). */
  write(digest: ParsedDigest, content: Uint8Array): Promise<void>;
  /** Moves a verified, fsynced upload file into place, or drops it when the blob already exists. */
  adopt(digest: ParsedDigest, uploadPath: string): Promise<void>;
}

export function createBlobStore(driver: StorageDriver): BlobStore {
  const blobPath = (digest: ParsedDigest) => pathFor({ kind: 'blobData', digest });

  return {
    async size(digest) {
      try {
        return (await driver.stat(blobPath(digest))).size;
      } catch (error) {
        if (isPathNotFound(error)) return undefined;
        throw error;
      }
    },

    reader(digest, range) {
      return driver.reader(blobPath(digest), range);
    },

    copyTo(digest, destination, range) {
      return driver.copyTo(blobPath(digest), destination, range);
    },

    async read(digest) {
      try {
        return await driver.getContent(blobPath(digest));
      } catch (error) {
        if (isPathNotFound(error)) return undefined;
        throw error;
      }
    },

    async write(digest, content) {
      if ((await this.size(digest)) !== undefined) return;
      await driver.putContent(blobPath(digest), content);
    },

    async adopt(digest, uploadPath) {
      if ((await this.size(digest)) !== undefined) {
        await driver.delete(uploadPath);
        return;
      }
      await driver.move(uploadPath, blobPath(digest));
    },
  };
}
