import { forEachConcurrently } from '../core/concurrent.js';
import { parseDigest } from '../core/digest.js';
import type { BlobStore } from './blob-store.js';
import type { RepositoryIndex } from './repository-index.js';

/** Blob stats in flight at once: each is a syscall in libuv's thread pool (or an S3 HEAD), so one at a time idles it. */
const statsAtOnce = 16;

/**
 * Records in the index the sizes of linked blobs it does not know (links a rebuild found: the link files hold no
 * size), read from the blob store once. Returns how many were recorded: a link to a blob that is not stored has
 * no size and counts nothing, so a caller that re-queries stops when this returns 0.
 */
export async function recordBlobSizes(index: RepositoryIndex, blobs: BlobStore, digests: readonly string[]): Promise<number> {
  let recorded = 0;
  await forEachConcurrently(digests, statsAtOnce, async (digest) => {
    const size = await blobs.size(parseDigest(digest));
    if (size === undefined) return;
    await index.putBlobSize(digest, size);
    recorded += 1;
  });
  return recorded;
}
